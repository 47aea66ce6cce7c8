// The access log: lines that parse whatever a client sent, chunks written
// whole, reopened after a rotation without losing a line, and lines that
// cannot be written dropped and counted instead of stopping anything.
#include "granite/obs/access_log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

using granite::obs::access_format;
using granite::obs::access_log;
using granite::obs::access_record;

namespace {

namespace fs = std::filesystem;

// Every byte a client can put in a target or a header value that Beast
// lets through, and some it does not.
std::string hostile() {
  std::string s = "/api/users/1?q=\"quoted\"\\back slash\ttab\r\nnew line\x01\x1f\x7f end ";
  s += "\xc3\xa9\xff\xfe";  // UTF-8 and bytes that are not
  return s;
}

// What a JSON parser gives back for text whose bytes above 0x7f were
// written as \u00XX: each such byte as the UTF-8 of U+00XX.
std::string as_latin1_utf8(const std::string& bytes) {
  std::string out;
  for (unsigned char ch : bytes) {
    if (ch < 0x80) {
      out += static_cast<char>(ch);
    } else {
      out += static_cast<char>(0xc0 | (ch >> 6));
      out += static_cast<char>(0x80 | (ch & 0x3f));
    }
  }
  return out;
}

access_record sample(std::string_view target) {
  access_record r;
  r.request_id = "abc-1";
  r.client = "192.0.2.7";
  r.method = "GET";
  r.target = target;
  r.route = "/api/users/{id}";
  r.trace_id = "Root=1-67891233-abcdef012345678912345678";
  r.status = 200;
  r.bytes = 322;
  r.duration_us = 1660;
  r.cache = access_record::cache_use::hit;
  return r;
}

std::vector<std::string> lines_of(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

fs::path temp_dir() {
  auto dir = fs::temp_directory_path() / ("granite-access-" + std::to_string(getpid()));
  fs::create_directories(dir);
  return dir;
}

// Waits until every line handed over is written or dropped.
access_log::counts settled(access_log& log) {
  log.flush();
  for (int i = 0; i < 500; ++i) {
    auto c = log.totals();
    if (c.written + c.dropped == c.lines) return c;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return log.totals();
}

}  // namespace

TEST(AccessLine, JsonLinesParseWhateverTheClientSent) {
  auto target = hostile();
  auto r = sample(target);
  std::string trace = "Root=\"x\"\n{\"forged\":1}";
  r.trace_id = trace;
  std::string line;
  granite::obs::format_access_line(line, access_format::json, "2026-11-26T14:21:21.763488Z", 3, 4361, r);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line";
  for (unsigned char ch : line) EXPECT_LT(ch, 0x80) << "ASCII only";
  auto doc = nlohmann::json::parse(line);
  EXPECT_EQ(doc["time"], "2026-11-26T14:21:21.763488Z");
  EXPECT_EQ(doc["worker"], 3);
  EXPECT_EQ(doc["pid"], 4361);
  EXPECT_EQ(doc["request_id"], "abc-1");
  EXPECT_EQ(doc["client"], "192.0.2.7");
  EXPECT_EQ(doc["method"], "GET");
  EXPECT_EQ(doc["target"], as_latin1_utf8(target));
  EXPECT_EQ(doc["route"], "/api/users/{id}");
  EXPECT_EQ(doc["status"], 200);
  EXPECT_EQ(doc["bytes"], 322);
  EXPECT_EQ(doc["duration_us"], 1660);
  EXPECT_EQ(doc["cache"], "hit");
  EXPECT_EQ(doc["trace_id"], trace);
  EXPECT_FALSE(doc.contains("forged"));
}

TEST(AccessLine, JsonSaysNullForWhatThereIsNot) {
  access_record r;
  r.request_id = "abc-2";
  r.client = "2001:db8::1";
  r.status = 400;
  std::string line;
  granite::obs::format_access_line(line, access_format::json, "t", 0, 1, r);
  auto doc = nlohmann::json::parse(line);
  EXPECT_TRUE(doc["method"].is_null());
  EXPECT_TRUE(doc["target"].is_null());
  EXPECT_TRUE(doc["route"].is_null());
  EXPECT_TRUE(doc["cache"].is_null());
  EXPECT_TRUE(doc["trace_id"].is_null());
  EXPECT_EQ(doc["status"], 400);
}

TEST(AccessLine, PlainLinesKeepOneFieldPerWord) {
  auto target = hostile();
  auto r = sample(target);
  std::string line;
  granite::obs::format_access_line(line, access_format::plain, "2026-11-26T14:21:21.763488Z", 0, 4361, r);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  for (unsigned char ch : line) EXPECT_TRUE(ch == '\n' || (ch >= 0x20 && ch < 0x7f)) << int(ch);
  EXPECT_EQ(line.rfind("2026-11-26T14:21:21.763488Z info [worker 0 4361] access GET /api/users/1?q=\\x22quoted\\x22"
                       "\\x5cback\\x20slash\\x09tab\\x0d\\x0anew\\x20line\\x01\\x1f\\x7f\\x20end\\x20\\xc3\\xa9\\xff"
                       "\\xfe 200 322B 1660us rid=abc-1 client=192.0.2.7 cache=hit route=/api/users/{id} "
                       "trace=Root=1-67891233-abcdef012345678912345678\n",
                       0),
            0u)
      << line;
  access_record unread;
  unread.request_id = "abc-3";
  unread.client = "192.0.2.7";
  unread.status = 400;
  line.clear();
  granite::obs::format_access_line(line, access_format::plain, "t", 1, 2, unread);
  EXPECT_EQ(line, "t info [worker 1 2] access - - 400 0B 0us rid=abc-3 client=192.0.2.7 cache=-\n");
}

TEST(AccessLog, WritesEveryLineWholeToItsFile) {
  auto dir = temp_dir();
  auto path = dir / "whole.log";
  fs::remove(path);
  {
    access_log log({.path = path.string(), .format = access_format::json, .slot = 1, .pid = 77, .chunk_bytes = 4096,
                    .max_queued = 100000});
    for (int i = 0; i < 5000; ++i) {
      auto target = "/api/users/" + std::to_string(i);
      log.write(sample(target));
    }
    auto c = settled(log);
    EXPECT_EQ(c.lines, 5000u);
    EXPECT_EQ(c.written, 5000u);
    EXPECT_EQ(c.dropped, 0u);
  }
  auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 5000u);
  for (int i = 0; i < 5000; ++i) {
    auto doc = nlohmann::json::parse(lines[static_cast<std::size_t>(i)]);
    EXPECT_EQ(doc["target"], "/api/users/" + std::to_string(i));  // in order
  }
  fs::remove_all(dir);
}

TEST(AccessLog, ReopensAfterARotationWithoutLosingALine) {
  auto dir = temp_dir();
  auto path = dir / "access.log";
  auto rotated = dir / "access.log.1";
  fs::remove(path);
  fs::remove(rotated);
  {
    access_log log({.path = path.string(), .chunk_bytes = 1024, .max_queued = 100000});
    for (int i = 0; i < 300; ++i) log.write(sample("/before"));
    fs::rename(path, rotated);  // logrotate moves it; lines still come
    for (int i = 0; i < 200; ++i) log.write(sample("/between"));
    log.reopen();
    for (int i = 0; i < 100; ++i) log.write(sample("/after"));
    EXPECT_EQ(settled(log).written, 600u);
  }
  auto old_lines = lines_of(rotated);
  auto new_lines = lines_of(path);
  EXPECT_EQ(old_lines.size(), 500u);
  EXPECT_EQ(new_lines.size(), 100u);
  for (const auto& l : new_lines) EXPECT_NE(l.find(" access GET /after 200 "), std::string::npos) << l;
  for (const auto& l : old_lines) EXPECT_EQ(l.find("/after"), std::string::npos) << l;
  fs::remove_all(dir);
}

TEST(AccessLog, LinesThatCannotBeWrittenAreDroppedAndCounted) {
  {
    // A full disk.
    access_log log({.path = "/dev/full", .chunk_bytes = 1024});
    for (int i = 0; i < 100; ++i) log.write(sample("/full"));
    auto c = settled(log);
    EXPECT_EQ(c.lines, 100u);
    EXPECT_EQ(c.written, 0u);
    EXPECT_EQ(c.dropped, 100u);
  }
  {
    // A directory that does not exist.
    access_log log({.path = "/nonexistent-granite-dir/access.log", .chunk_bytes = 1024});
    for (int i = 0; i < 100; ++i) log.write(sample("/missing"));
    auto c = settled(log);
    EXPECT_EQ(c.written, 0u);
    EXPECT_EQ(c.dropped, 100u);
  }
}

TEST(AccessLog, ABlockedWriterCostsLinesNotWaiting) {
  // A pipe nobody reads yet: the writer blocks once the pipe is full, and
  // the lines beyond max_queued chunks are dropped, the caller never waits.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::thread reader;
  {
    access_log log({.path = "/proc/self/fd/" + std::to_string(fds[1]), .chunk_bytes = 4096, .max_queued = 2});
    for (int i = 0; i < 20000; ++i) log.write(sample("/blocked"));
    auto c = log.totals();
    EXPECT_EQ(c.lines, 20000u);
    EXPECT_GT(c.dropped, 10000u);
    reader = std::thread([fd = fds[0]] {
      char buf[65536];
      while (read(fd, buf, sizeof buf) > 0) {
      }
    });
    auto after = settled(log);
    EXPECT_EQ(after.written + after.dropped, 20000u);
    EXPECT_GT(after.written, 0u);
  }
  close(fds[1]);
  reader.join();
  close(fds[0]);
}
