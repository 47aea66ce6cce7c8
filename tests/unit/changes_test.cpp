// The change unit's formats on their own: notices, log positions, the
// decoder's batches, and pgoutput's messages as the decoder reads them (the
// database's side of each is tests/integration/changes_test.cpp).
#include "granite/store/changes.hpp"

#include <gtest/gtest.h>

#include <cstring>

using namespace granite::store;

TEST(NoticeFormat, EachChangeHasOneText) {
  EXPECT_EQ(format_notice(user_changed(5)), "u:5");
  EXPECT_EQ(format_notice(thread_changed(4)), "t:4");
  EXPECT_EQ(format_notice(post_changed(10, 4, 5)), "p:10:4:5");
  EXPECT_EQ(format_notice(anything_changed()), "*");
  EXPECT_EQ(format_notice(user_changed(9223372036854775807)), "u:9223372036854775807");
  // With what the change was: new, changed in place, deleted.
  EXPECT_EQ(format_notice(user_changed(5, change::op::insert)), "u+:5");
  EXPECT_EQ(format_notice(thread_changed(4, change::op::update)), "t=:4");
  EXPECT_EQ(format_notice(post_changed(10, 4, 5, change::op::remove)), "p-:10:4:5");
  EXPECT_EQ(format_notice(made_as(anything_changed(), change::op::remove)), "*");
}

TEST(NoticeFormat, ParsesWhatItFormats) {
  for (const auto& c : {user_changed(1), thread_changed(77), post_changed(3, 2, 1), anything_changed(),
                        post_changed(9223372036854775807, 1, 9223372036854775807),
                        user_changed(2, change::op::insert), thread_changed(3, change::op::remove),
                        post_changed(4, 5, 6, change::op::update)})
    EXPECT_EQ(parse_notice(format_notice(c)), c) << format_notice(c);
  EXPECT_EQ(parse_notice("u:007"), user_changed(7));  // leading zeros, as ids in paths
}

TEST(NoticeFormat, RefusesAnythingElse) {
  for (const char* bad : {"", "u", "u:", "u:x", "u:1:", "u:1:2", "p:1:2", "p:1:2:3:4", "p:1::3", "t:-1", "t:+1",
                          "t:0", "x:1", "u:99999999999999999999", "**", "u 1", "U:1", " u:1", "u:1 ",
                          "u+", "u+:", "u+5", "u++:5", "u*:5", "u+-:5", "p=:1:2", "t-:0", "+:5", "*+"})
    EXPECT_FALSE(parse_notice(bad)) << bad;
}

TEST(LogPositions, AsPostgreSQLWritesThem) {
  EXPECT_EQ(format_lsn(0x16B3F28), "0/16B3F28");
  EXPECT_EQ(format_lsn(0x1234567800000001ULL), "12345678/1");
  for (lsn at : {lsn{0}, lsn{1}, lsn{0x16B3F28}, lsn{0xFFFFFFFFFFFFFFFFULL}, lsn{0x100000000ULL}})
    EXPECT_EQ(parse_lsn(format_lsn(at)), at) << format_lsn(at);
  for (const char* bad : {"", "/", "0/", "/1", "0x1/2", "1/2/3", "123456789/1", "1/123456789", "g/1", "1/a"})
    EXPECT_FALSE(parse_lsn(bad)) << bad;
}

TEST(Batches, CarryGenerationSeqPositionAndChanges) {
  std::uint64_t seq = 7;
  auto out = format_batches(0xabc, seq, 0x16B3F28, {user_changed(5, change::op::insert), anything_changed()});
  ASSERT_EQ(out, std::vector<std::string>{"abc/7 0/16B3F28 u+:5 *"});
  EXPECT_EQ(seq, 8u);
  auto b = parse_batch(out[0]);
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, (change_batch{0xabc, 7, 0x16B3F28, {user_changed(5, change::op::insert), anything_changed()}}));
  // A heartbeat: no changes.
  EXPECT_EQ(format_batches(1, seq, 0x10, {}), std::vector<std::string>{"1/8 0/10"});
  EXPECT_EQ(parse_batch("1/8 0/10"), (change_batch{1, 8, 0x10, {}}));
}

TEST(Batches, SplitToFitANotifyAndOnlyTheLastCarriesThePosition) {
  std::vector<change> many;
  for (std::int64_t i = 1; i <= 1000; ++i)
    many.push_back(post_changed(9000000000000 + i, 8000000000000, 7000000000000, change::op::insert));
  std::uint64_t seq = 1;
  auto out = format_batches(0xfeed, seq, 0x99, many);
  ASSERT_GT(out.size(), 1u);
  EXPECT_EQ(seq, 1 + out.size());
  std::vector<change> back;
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_LE(out[i].size(), batch_payload_limit);
    auto b = parse_batch(out[i]);
    ASSERT_TRUE(b) << out[i].substr(0, 80);
    EXPECT_EQ(b->seq, i + 1);
    EXPECT_EQ(b->through, i + 1 == out.size() ? 0x99u : 0u);
    back.insert(back.end(), b->changes.begin(), b->changes.end());
  }
  EXPECT_EQ(back, many);
}

TEST(Batches, RefuseAnythingElse) {
  for (const char* bad : {"", "1", "1/", "/1", "1/0 0/1", "x/1 0/1", "1/1", "1/1 ", "1/1 0/0", "1/1 0/1 u:",
                          "1/1 0/1  u:1", "1/1 0/1 u:1 ", "1/1 zz u:1", "A/1 0/1", "1/-1 0/1",
                          "11111111111111111/1 0/1"})
    EXPECT_FALSE(parse_batch(bad)) << bad;
  EXPECT_TRUE(parse_batch("1/1 - u:1"));
}

// pgoutput's messages, built as the protocol chapter lays them out.
namespace {

struct message {
  std::string bytes;
  message& byte(char c) { return bytes += c, *this; }
  message& int16(std::uint16_t v) { return byte(char(v >> 8)).byte(char(v)); }
  message& int32(std::uint32_t v) { return int16(std::uint16_t(v >> 16)).int16(std::uint16_t(v)); }
  message& int64(std::uint64_t v) { return int32(std::uint32_t(v >> 32)).int32(std::uint32_t(v)); }
  message& str(std::string_view s) { return bytes.append(s).append(1, '\0'), *this; }
  // A tuple of text values ("" for a null).
  message& tuple(std::initializer_list<const char*> values) {
    int16(std::uint16_t(values.size()));
    for (const char* v : values) {
      if (!*v) {
        byte('n');
        continue;
      }
      byte('t').int32(std::uint32_t(std::strlen(v)));
      bytes += v;
    }
    return *this;
  }
};

message begin() { return message().byte('B').int64(0x100).int64(0).int32(7); }
message commit(lsn end) { return message().byte('C').byte(0).int64(end - 8).int64(end).int64(0); }
message relation(std::uint32_t oid, const char* name, std::initializer_list<const char*> columns) {
  message m;
  m.byte('R').int32(oid).str("public").str(name).byte('i').int16(std::uint16_t(columns.size()));
  for (const char* c : columns) m.byte(1).str(c).int32(20).int32(0xffffffff);
  return m;
}

struct Decoder : ::testing::Test {
  pgoutput_decoder d;
  std::vector<change> out;
  void SetUp() override {
    feed(relation(10, "users", {"id"}));
    feed(relation(11, "threads", {"id"}));
    feed(relation(12, "posts", {"id", "thread_id", "user_id"}));
    feed(relation(13, "sessions", {"id", "user_id"}));
  }
  pgoutput_decoder::step feed(const message& m) { return d.feed(m.bytes, out); }
};

}  // namespace

TEST_F(Decoder, ChangesComeOutWhenTheirTransactionCommits) {
  EXPECT_TRUE(feed(begin()).ok);
  EXPECT_TRUE(feed(message().byte('I').int32(10).byte('N').tuple({"5"})).ok);
  EXPECT_TRUE(feed(message().byte('U').int32(11).byte('N').tuple({"4"})).ok);
  EXPECT_TRUE(feed(message().byte('D').int32(12).byte('K').tuple({"9", "3", "2"})).ok);
  // A post moved to another thread: the old key, then the new row.
  EXPECT_TRUE(feed(message().byte('U').int32(12).byte('K').tuple({"8", "1", "2"}).byte('N').tuple({"8", "6", "2"})).ok);
  // Not a table the caches follow.
  EXPECT_TRUE(feed(message().byte('I').int32(13).byte('N').tuple({"77", "5"})).ok);
  EXPECT_TRUE(out.empty());
  auto done = feed(commit(0x5000));
  ASSERT_TRUE(done.ok);
  EXPECT_EQ(done.committed, lsn{0x5000});
  using op = change::op;
  EXPECT_EQ(out, (std::vector<change>{user_changed(5, op::insert), thread_changed(4, op::update),
                                       post_changed(9, 3, 2, op::remove), post_changed(8, 1, 2, op::remove),
                                       post_changed(8, 6, 2, op::insert)}));
}

TEST_F(Decoder, ColumnsAreFoundByNameWhateverTheirOrder) {
  pgoutput_decoder whole;
  std::vector<change> got;
  // A publication without column lists (before PostgreSQL 15): every column.
  ASSERT_TRUE(whole.feed(relation(12, "posts", {"text", "user_id", "created_at", "thread_id", "id"}).bytes, got).ok);
  ASSERT_TRUE(whole.feed(begin().bytes, got).ok);
  ASSERT_TRUE(whole.feed(message().byte('I').int32(12).byte('N').tuple({"hi", "2", "2026", "3", "41"}).bytes, got).ok);
  ASSERT_TRUE(whole.feed(commit(0x10).bytes, got).ok);
  EXPECT_EQ(got, std::vector<change>{post_changed(41, 3, 2, change::op::insert)});
}

TEST_F(Decoder, ATruncateIsAChangeOfEverything) {
  feed(begin());
  EXPECT_TRUE(feed(message().byte('T').int32(2).byte(0).int32(12).int32(11)).ok);
  feed(commit(0x20));
  EXPECT_EQ(out, std::vector<change>{anything_changed()});
}

TEST_F(Decoder, ATransactionOfTooManyChangesIsOneChangeOfEverything) {
  feed(begin());
  for (std::size_t i = 1; i <= pgoutput_decoder::most_per_transaction + 1; ++i)
    feed(message().byte('I').int32(10).byte('N').tuple({std::to_string(i).c_str()}));
  feed(commit(0x30));
  EXPECT_EQ(out, std::vector<change>{anything_changed()});
  out.clear();
  feed(begin());
  feed(message().byte('I').int32(10).byte('N').tuple({"1"}));
  feed(commit(0x40));
  EXPECT_EQ(out, std::vector<change>{user_changed(1, change::op::insert)});
}

TEST_F(Decoder, RefusesWhatIsNotPgoutput) {
  std::vector<message> bad = {
      message(),                                                        // empty
      message().byte('Z'),                                              // unknown type
      message().byte('B').int64(1),                                     // cut short
      commit(0x10),                                                     // outside a transaction
      message().byte('I').int32(10).byte('N').tuple({"1"}),            // outside a transaction
  };
  for (auto& m : bad) {
    pgoutput_decoder fresh;
    std::vector<change> got;
    EXPECT_FALSE(fresh.feed(m.bytes, got).ok) << m.bytes.size();
    EXPECT_TRUE(got.empty());
  }
  std::vector<message> in_transaction = {
      message().byte('I').int32(99).byte('N').tuple({"1"}),              // a relation never described
      message().byte('I').int32(10).byte('K').tuple({"1"}),              // an insert with an old row
      message().byte('D').int32(10).byte('N').tuple({"1"}),              // a delete without its old row
      message().byte('I').int32(10).byte('N').tuple({"x"}),              // not a number
      message().byte('I').int32(10).byte('N').tuple({"0"}),              // not an id
      message().byte('I').int32(10).byte('N').tuple({""}),               // a null key
      message().byte('I').int32(12).byte('N').tuple({"1", "2"}),         // a post without its author
      message().byte('I').int32(10).byte('N').tuple({"1"}).byte('x'),    // bytes after the tuple
      message().byte('I').int32(10).byte('N').int16(1).byte('t').int32(100).byte('1'),  // a value cut short
      begin(),                                                           // a Begin inside a transaction
  };
  for (auto& m : in_transaction) {
    ASSERT_TRUE(feed(begin()).ok);
    EXPECT_FALSE(feed(m).ok) << m.bytes.size();
    d = pgoutput_decoder();
    SetUp();
  }
  EXPECT_TRUE(out.empty());
  // A relation of ours published without the columns of its key.
  EXPECT_FALSE(feed(relation(12, "posts", {"id", "thread_id"})).ok);
}
