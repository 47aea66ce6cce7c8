#pragma once

// A random walk of writes through the forum's API (posts, threads and users
// created, edited and deleted by the members it signs up; posts and threads
// removed, restored, locked and unlocked by a moderator of its own), each followed by
// reads of the pages and records it touched, compared between instances: an
// oracle for whatever stands between a read and the database (the read
// cache, replicas).
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "support/http_client.hpp"

namespace granite::testkit {

// What a reader is told, in full: the status, the body, the Link and the
// ETag. A problem's requestId is the request's own, not the answer's.
std::string shown(const http_response& r);

struct walk_result {
  int steps = 0, reads = 0, mismatches = 0, late = 0;
  int leaks = 0;       // answers that showed a removed record's author or text
  int tombstones = 0;  // answers that held a removed record (as its tombstone)
};

// `steps` writes through `writer`'s port (its moderator made one by `granite
// grant` on `database_url`); after each, the targets read so far (up to 400)
// in part and a few new ones, through every connection in `cached` and
// through `reference`, which must agree (a mismatch fails the test), and
// none of which may show removed content (a leak fails it too). The first `same_instance` connections are of the writer's
// instance and must agree at once; the others may take up to `settle` (their
// notices come through PostgreSQL): `late` counts how often they did.
walk_result random_walk(const std::string& database_url, int writer, std::vector<std::unique_ptr<http_client>>& cached,
                        http_client& reference, std::size_t same_instance, int steps,
                        std::chrono::milliseconds settle);

}  // namespace granite::testkit
