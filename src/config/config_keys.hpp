#pragma once

// The table of configuration keys shared by config.cpp and config_keys.cpp.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "granite/config/config.hpp"

namespace granite::config::detail {

// A list is a JSON array of strings, or comma-separated text in the
// environment and on the command line.
using field = std::variant<int*, std::int64_t*, std::string*, bool*, std::vector<std::string>*>;

struct key_spec {
  std::string_view name;  // "section.key" or "key"
  std::function<field(config&)> field_of;
  std::int64_t min = 0;
  std::int64_t max = 0;
  std::vector<std::string_view> choices;  // strings only; empty: any text
  // A key of an earlier release, still accepted so that its configuration
  // files load, with no effect: why (logged at start). Not listed.
  std::string_view retired = {};
  // Lists only: checks one entry; an empty answer accepts it, otherwise it
  // says what is wrong.
  std::function<std::string(std::string_view)> check_entry = {};
};

const std::vector<key_spec>& keys();  // every key in force, in documentation order
const std::vector<key_spec>& retired_keys();
const key_spec* find_key(std::string_view name);  // in force or retired

// "listen.port" -> "GRANITE_LISTEN_PORT"
std::string env_name(std::string_view key);

}  // namespace granite::config::detail
