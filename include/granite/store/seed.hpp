#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace granite::store {

class connection;

// A seed file in the original db.json shape:
// {"users":[{id,username,name,bio}], "threads":[{id,title,createdBy}], "posts":[{thread,text,user}]}
// Posts may carry an "id" (all of them or none); without one they are
// numbered in file order, which is their creation order.
struct seed_user {
  std::int64_t id;
  std::string username, name, bio;
};
struct seed_thread {
  std::int64_t id;
  std::string title;
  std::int64_t created_by;
};
struct seed_post {
  std::optional<std::int64_t> id;
  std::int64_t thread;
  std::string text;
  std::int64_t user;
};
struct seed_data {
  std::vector<seed_user> users;
  std::vector<seed_thread> threads;
  std::vector<seed_post> posts;
};

// A bad seed: the message names the record at fault ("posts[3].user: ...").
class seed_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses and checks everything that the file alone decides: JSON, shape,
// types, ranges, NUL characters, duplicate ids and usernames. References are
// checked by load_seed, which also knows what the database holds. Throws
// seed_error.
seed_data parse_seed(std::string_view text);
seed_data read_seed_file(const std::string& path);

enum class seed_mode { add, replace, if_empty };

struct seed_report {
  bool skipped = false;  // if_empty and the database already held data
  std::size_t users = 0, threads = 0, posts = 0;
};

// Loads the data in one transaction: everything or nothing. References may
// point at records already in the database. Throws seed_error naming the
// record at fault.
seed_report load_seed(connection& c, const seed_data& data, seed_mode mode);

// A generated forum of a given size, for benchmarks and capacity tests:
// "users=100000,threads=200000,posts=2000000" (a count left out is 0).
// Users are user1..userN; a thread's author and a post's author are spread
// over the users; half the posts go to the first 1000 threads (long threads,
// pages of 100 and more), the other half spread over every thread.
struct synthetic_spec {
  std::int64_t users = 0, threads = 0, posts = 0;
};
inline constexpr std::int64_t synthetic_limit = 100'000'000;
// Throws seed_error naming the part at fault.
synthetic_spec parse_synthetic(std::string_view spec);
// Generated inside PostgreSQL in one transaction, into an empty database
// (seed_mode::replace empties it first; add refuses a database with data).
// The tables' secondary indexes and foreign keys are built and checked once
// at the end rather than row by row.
seed_report load_synthetic(connection& c, const synthetic_spec& spec, seed_mode mode);

}  // namespace granite::store
