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

}  // namespace granite::store
