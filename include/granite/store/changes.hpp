#pragma once

// The changes of users, threads and posts that the read caches follow, in
// one place: the typed change, and every form it travels in.
//
//  - From the database, two sources: PostgreSQL's logical replication
//    (pgoutput over the publication granite_changes of migration 0006, read
//    by one decoder for the fleet: pgoutput_decoder below), or, where that
//    cannot be had, the notices that the triggers of migrations 0003 and
//    0005 send on the channel granite_cache.
//  - Between instances: the decoder's batches, on the channel
//    granite_changes (change_batch below).
//  - Within an instance: notices in the shared ring (shm/notice_ring.hpp),
//    which every worker reads before it answers from its cache.
//
// A notice, as text (the ring's and the triggers' form):
//   u<op>:<user id>                        a user
//   t<op>:<thread id>                      a thread
//   p<op>:<post id>:<thread id>:<user id>  a post
//   *                                      anything (TRUNCATE, bulk loads, a gap)
//
// <op> is '+' for a new record, '=' for a record changed in place, '-' for
// a record deleted; a change that moves a record (a new id, a post into
// another thread) is a '-' of its old place and a '+' of its new one. The
// readers drop only the cached pages such a change can touch
// (features/cached.hpp). Without <op> ("u:5", as migration 0003's triggers
// sent) a change may be any of them.
//
// Ids are decimal digits, 1 to 2^63-1.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "granite/text.hpp"

namespace granite::store {

// The triggers' channel (the fallback) and the decoder's.
inline constexpr std::string_view notice_channel = "granite_cache";
inline constexpr std::string_view batch_channel = "granite_changes";
// The publication the decoder reads (migration 0006).
inline constexpr std::string_view change_publication = "granite_changes";

struct change {
  enum class of : std::uint8_t { everything, user, thread, post };
  enum class op : std::uint8_t { any, insert, update, remove };
  of kind = of::everything;
  op how = op::any;
  std::int64_t id = 0;      // the user, thread or post
  std::int64_t thread = 0;  // a post's thread
  std::int64_t user = 0;    // a post's author
  bool operator==(const change&) const = default;
};

inline change user_changed(std::int64_t id, change::op how = change::op::any) {
  return {change::of::user, how, id};
}
inline change thread_changed(std::int64_t id, change::op how = change::op::any) {
  return {change::of::thread, how, id};
}
inline change post_changed(std::int64_t id, std::int64_t thread, std::int64_t user,
                           change::op how = change::op::any) {
  return {change::of::post, how, id, thread, user};
}
// The same change, made as `how`.
inline change made_as(change c, change::op how) {
  if (c.kind != change::of::everything) c.how = how;
  return c;
}
// A delete that cascades (a user, a thread) touches records the writer does
// not list.
inline change anything_changed() { return {}; }

// The notice's text, as the triggers send it.
std::string format_notice(const change& c);
// nullopt when the text is not a notice of this format.
std::optional<change> parse_notice(std::string_view text);

// A position in PostgreSQL's write-ahead log.
using lsn = std::uint64_t;
using granite::format_lsn;  // "0/16B3F28", as PostgreSQL writes it (granite/text.hpp)
using granite::parse_lsn;

// What the decoder sends on the batch channel: the changes of the
// transactions it decoded since its last batch, in commit order, and how far
// in the log it had decoded (`through`: every transaction that committed
// before that position is in this batch or an earlier one). A decoder's
// batches share its `generation` (new for each stream it opens, since a new
// stream may have missed what committed while there was none) and are
// numbered from 1 without a gap.
//   <generation, hex>/<seq> <through> <notice> <notice> ...
// A batch without changes is a heartbeat: the decoder lives, and has
// decoded this far.
struct change_batch {
  std::uint64_t generation = 0;
  std::uint64_t seq = 0;
  lsn through = 0;
  std::vector<change> changes;
  bool operator==(const change_batch&) const = default;
};
// A NOTIFY payload is at most 8000 bytes: what does not fit goes on in the
// next payload, with the next seq. Only the last payload carries `through`
// (the others "-", parsed as 0): the position marks what is complete.
inline constexpr std::size_t batch_payload_limit = 7900;
std::vector<std::string> format_batches(std::uint64_t generation, std::uint64_t& next_seq, lsn through,
                                        const std::vector<change>& changes);
// nullopt when the text is not a batch.
std::optional<change_batch> parse_batch(std::string_view text);

// pgoutput's messages (protocol version 1), one at a time, in the order the
// stream sends them, into the changes of each transaction once it commits.
// The relations it knows are those its Relation messages named (users,
// threads, posts in schema `schema`); changes of any other are not ours.
class pgoutput_decoder {
 public:
  // A transaction with more changes than this is one change of everything:
  // a bulk load drops the caches once instead of flooding them.
  static constexpr std::size_t most_per_transaction = 256;

  explicit pgoutput_decoder(std::string schema = "public") : schema_(std::move(schema)) {}

  struct step {
    bool ok = true;
    std::string error;                 // why the message is not pgoutput (ok false)
    std::optional<lsn> committed;      // a Commit: the end of its transaction
  };
  // One message (the payload of an XLogData). Changes of a committed
  // transaction are appended to `out`.
  step feed(std::string_view message, std::vector<change>& out);
  // Inside a transaction (its Begin seen, its Commit not yet).
  bool in_transaction() const { return in_transaction_; }

 private:
  enum class table : std::uint8_t { other, users, threads, posts };
  struct relation {
    table which = table::other;
    int id = -1, thread = -1, user = -1;  // the columns' positions, -1 when not sent
  };
  bool read_tuple(const relation& r, std::string_view& in, change& c, std::string& error);
  void add(change c);

  std::string schema_;
  std::unordered_map<std::uint32_t, relation> relations_;
  bool in_transaction_ = false;
  std::vector<change> pending_;
  bool overflowed_ = false;
};

}  // namespace granite::store
