#include "granite/config/config.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config_keys.hpp"
#include "granite/network.hpp"
#include "granite/text.hpp"

extern char** environ;

namespace granite::config {

using nlohmann::json;
using detail::key_spec;

namespace {

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;  // clang 14 deduces no aggregate's arguments

[[noreturn]] void fail(const std::string& message) { throw config_error("config: " + message); }

std::string type_name(const json& v) {
  if (v.is_number_integer()) return "integer " + v.dump();
  if (v.is_number()) return "number " + v.dump();
  if (v.is_string()) return "string " + v.dump();
  if (v.is_boolean()) return v.dump();
  if (v.is_null()) return "null";
  if (v.is_array()) return "an array";
  return "an object";
}

// UTF-8 without NUL: libpq and the system calls read C strings, and text
// that goes on past a NUL would not mean what it says.
bool plain_text(const std::string& s) { return valid_utf8(s) && s.find('\0') == std::string::npos; }

void assign(config& c, const key_spec& k, const json& v, const std::string& from) {
  auto integer = [&]() -> std::int64_t {
    if (!v.is_number_integer())
      fail(std::string(k.name) + " must be an integer, got " + type_name(v) + " (" + from + ")");
    // Unsigned values above int64 arrive as number_unsigned; treat them as out of range.
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(k.max))
      fail(std::string(k.name) + " = " + v.dump() + " is out of range " + std::to_string(k.min) + ".." +
           std::to_string(k.max) + " (" + from + ")");
    auto n = v.get<std::int64_t>();
    if (n < k.min || n > k.max)
      fail(std::string(k.name) + " = " + std::to_string(n) + " is out of range " + std::to_string(k.min) +
           ".." + std::to_string(k.max) + " (" + from + ")");
    return n;
  };
  std::visit(overloaded{
                 [&](int* p) { *p = static_cast<int>(integer()); },
                 [&](std::int64_t* p) { *p = integer(); },
                 [&](std::string* p) {
                   if (!v.is_string())
                     fail(std::string(k.name) + " must be a string, got " + type_name(v) + " (" + from + ")");
                   auto s = v.get<std::string>();
                   if (!plain_text(s))
                     fail(std::string(k.name) + " is not UTF-8 text without NUL (" + from + ")");
                   if (!k.choices.empty()) {
                     bool known = false;
                     std::string list;
                     for (auto choice : k.choices) {
                       known = known || choice == s;
                       list += (list.empty() ? "" : ", ") + std::string(choice);
                     }
                     if (!known)
                       fail(std::string(k.name) + " = \"" + s + "\" is not one of " + list + " (" + from + ")");
                   }
                   *p = std::move(s);
                 },
                 [&](bool* p) {
                   if (!v.is_boolean())
                     fail(std::string(k.name) + " must be true or false, got " + type_name(v) + " (" + from +
                          ")");
                   *p = v.get<bool>();
                 },
                 [&](std::vector<std::string>* p) {
                   if (!v.is_array())
                     fail(std::string(k.name) + " must be a list of strings, got " + type_name(v) + " (" + from +
                          ")");
                   std::vector<std::string> entries;
                   for (const auto& entry : v) {
                     if (!entry.is_string())
                       fail(std::string(k.name) + " must be a list of strings, and holds " + type_name(entry) +
                            " (" + from + ")");
                     auto text = entry.get<std::string>();
                     if (!plain_text(text))
                       fail(std::string(k.name) + " holds text that is not UTF-8 without NUL (" + from + ")");
                     if (k.check_entry) {
                       if (auto why = k.check_entry(text); !why.empty())
                         fail(std::string(k.name) + ": " + why + " (" + from + ")");
                     }
                     entries.push_back(std::move(text));
                   }
                   *p = std::move(entries);
                 },
             },
             k.field_of(c));
  if (!k.retired.empty()) c.warnings.push_back(std::string(k.retired) + " (" + from + ")");
}

// Environment variables and flags are text; turn them into the JSON value
// their key expects, so that one assign() checks every layer alike.
json from_text(config& scratch, const key_spec& k, const std::string& text, const std::string& from) {
  return std::visit(
      overloaded{
          [&](std::string*) -> json { return text; },
          [&](std::vector<std::string>*) -> json {
            // "a, b,c": entries separated by commas, spaces around them
            // dropped; blank text is the empty list.
            json list = json::array();
            if (trim_ows(text).empty()) return list;
            std::string_view rest = text;
            while (true) {
              auto comma = rest.find(',');
              auto entry = trim_ows(rest.substr(0, comma));
              if (entry.empty()) fail(std::string(k.name) + " has an empty entry in \"" + text + "\" (" + from + ")");
              list.push_back(std::string(entry));
              if (comma == std::string_view::npos) return list;
              rest.remove_prefix(comma + 1);
            }
          },
          [&](bool*) -> json {
            if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
            if (text == "false" || text == "0" || text == "no" || text == "off") return false;
            fail(std::string(k.name) + " must be true or false, got \"" + text + "\" (" + from + ")");
          },
          [&](auto*) -> json {
            std::int64_t n = 0;
            const char* end = text.data() + text.size();
            auto [ptr, ec] = std::from_chars(text.data(), end, n);
            if (text.empty() || ec == std::errc::invalid_argument || ptr != end)
              fail(std::string(k.name) + " must be an integer, got \"" + text + "\" (" + from + ")");
            if (ec == std::errc::result_out_of_range)
              fail(std::string(k.name) + " = " + text + " is out of range " + std::to_string(k.min) + ".." +
                   std::to_string(k.max) + " (" + from + ")");
            return n;
          },
      },
      k.field_of(scratch));
}

json read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read " + path + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::exception& e) {  // syntax, or a number beyond a double's range (1e400)
    fail(path + " is not valid JSON: " + printable(e.what()));  // it quotes the file's bytes
  }
}

void apply_file(config& c, const std::string& path) {
  json doc = read_file(path);
  const std::string from = "config file " + path;
  if (!doc.is_object()) fail(path + " must hold a JSON object, got " + type_name(doc));
  auto leaf = [&](const std::string& name, const json& v) {
    const key_spec* k = detail::find_key(name);
    if (!k) fail("unknown key \"" + name + "\" (" + from + ")");
    assign(c, *k, v, from);
  };
  for (const auto& [section, value] : doc.items()) {
    if (value.is_object()) {
      if (detail::find_key(section)) fail(section + " must not be an object (" + from + ")");
      for (const auto& [name, v] : value.items()) leaf(section + "." + name, v);
    } else {
      leaf(section, value);
    }
  }
}

void apply_text(config& c, const std::string& name, const std::string& text, const std::string& from) {
  const key_spec* k = detail::find_key(name);
  if (!k) fail("unknown key \"" + name + "\" (" + from + ")");
  assign(c, *k, from_text(c, *k, text, from), from);
}

void validate(const config& c) {
  if (!ip_address::parse(c.listen.host))
    fail("listen.host = \"" + c.listen.host + "\" is not an IPv4 or IPv6 address (e.g. 0.0.0.0, 127.0.0.1, ::)");
  if (!c.metrics.listen.empty() && !host_port::parse(c.metrics.listen))
    fail("metrics.listen = \"" + c.metrics.listen +
         "\" is not an address and a port (e.g. 127.0.0.1:9464, [::1]:9464), nor empty (no metrics listener)");
  if (auto m = host_port::parse(c.metrics.listen); m && m->port == c.listen.port) {
    bool same_host = m->host == c.listen.host || c.listen.host == "0.0.0.0" || c.listen.host == "::";
    if (same_host)
      fail("metrics.listen = \"" + c.metrics.listen + "\" is the public port: the metrics never share it");
  }
  if (c.database.pooler == "transaction" && c.database.listen_url.empty())
    fail("database.pooler = \"transaction\" needs database.listen_url: the change feed, migrations and seeds need a "
         "session of their own, which a transaction-pooling pooler does not keep (point it at the database itself)");
  auto check_url = [](const std::string& url, const std::string& key) {
    char* message = nullptr;
    PQconninfoOption* options = PQconninfoParse(url.c_str(), &message);
    if (!options) {
      std::string why = message ? message : "out of memory";
      PQfreemem(message);
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      fail(key + " is not a valid libpq connection string or URI: " + why);
    }
    PQconninfoFree(options);
  };
  if (!c.database.url.empty()) check_url(c.database.url, "database.url");
  if (c.database.replicas.size() > max_replicas)
    fail("database.replicas lists " + std::to_string(c.database.replicas.size()) + " URLs; at most " +
         std::to_string(max_replicas) + " (a reader endpoint that spreads connections counts as one)");
  for (std::size_t i = 0; i < c.database.replicas.size(); ++i)
    check_url(c.database.replicas[i], "database.replicas[" + std::to_string(i) + "]");
}

// Hides the passwords of a libpq connection string, reading it as libpq
// does: a URI's (the user info's, and a password= parameter's, whose name
// may be percent-encoded), or a keyword string's password values, quoted
// or not.
std::string mask_uri(std::string url) {
  // libpq ends the user info at the first '@' before any '/'; a password
  // with an unescaped '@' of its own is hidden up to the last one.
  auto authority = url.find("://") + 3;
  auto at = url.rfind('@', url.find('/', authority));
  std::size_t params_from = authority;
  if (at != std::string::npos && at >= authority) {
    if (auto colon = url.find(':', authority); colon < at) {
      url.replace(colon + 1, at - colon - 1, "***");
      at = colon + 4;
    }
    params_from = at;
  }
  for (auto amp = url.find('?', params_from); amp != std::string::npos; amp = url.find('&', amp + 1)) {
    auto eq = url.find('=', amp + 1);
    auto end = url.find('&', amp + 1);
    if (eq == std::string::npos || eq > end) continue;
    std::string name;
    if (!percent_decode(std::string_view(url).substr(amp + 1, eq - amp - 1), name) || name != "password") continue;
    url.replace(eq + 1, (end == std::string::npos ? url.size() : end) - eq - 1, "***");
  }
  return url;
}

std::string mask_keywords(std::string_view text) {
  auto space = [](char ch) { return std::isspace(static_cast<unsigned char>(ch)) != 0; };
  std::string out;
  std::size_t i = 0;
  auto copy_while = [&](auto keep) {
    auto from = i;
    while (i < text.size() && keep(text[i])) ++i;
    out.append(text.substr(from, i - from));
    return text.substr(from, i - from);
  };
  while (true) {
    copy_while(space);
    if (i == text.size()) return out;
    auto name = copy_while([&](char ch) { return ch != '=' && !space(ch); });
    copy_while(space);
    if (i == text.size() || text[i] != '=') return "***";  // not a connection string: show nothing of it
    out += text[i++];
    copy_while(space);
    auto from = i;
    bool quoted = i < text.size() && text[i] == '\'';
    if (quoted) {
      for (++i; i < text.size() && text[i] != '\''; ++i)
        if (text[i] == '\\') ++i;
      if (i >= text.size()) return "***";
      ++i;
    } else {
      for (; i < text.size() && !space(text[i]); ++i)
        if (text[i] == '\\') ++i;
      i = std::min(i, text.size());
    }
    // A quoted value may have the next keyword right after it: it stays quoted.
    out.append(name != "password" ? text.substr(from, i - from) : quoted ? "'***'" : "***");
  }
}

std::string mask_password(const std::string& url) {
  bool uri = url.starts_with("postgresql://") || url.starts_with("postgres://");
  return uri ? mask_uri(url) : mask_keywords(url);
}

}  // namespace

int config::worker_count() const {
  if (workers > 0) return workers;
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<int>(online) : 1;
}

config load(const overrides& flags, const std::map<std::string, std::string>& env) {
  config c;

  std::optional<std::string> file = flags.file;
  if (!file) {
    if (auto it = env.find("GRANITE_CONFIG"); it != env.end() && !it->second.empty()) file = it->second;
  }
  if (file) apply_file(c, *file);

  std::map<std::string, const key_spec*> by_env;
  for (const auto& k : detail::keys()) by_env[detail::env_name(k.name)] = &k;
  for (const auto& k : detail::retired_keys()) by_env[detail::env_name(k.name)] = &k;
  for (const auto& [name, value] : env) {
    // GRANITE_UPGRADE_FROM is set by a leader for the one it execs.
    if (name.rfind("GRANITE_", 0) != 0 || name == "GRANITE_CONFIG" || name == "GRANITE_UPGRADE_FROM") continue;
    auto it = by_env.find(name);
    if (it == by_env.end()) fail("unknown environment variable " + name + " (no such setting)");
    apply_text(c, std::string(it->second->name), value, "environment " + name);
  }
  if (auto it = env.find("DATABASE_URL"); it != env.end()) {
    if (env.count("GRANITE_DATABASE_URL") && env.at("GRANITE_DATABASE_URL") != it->second)
      fail("DATABASE_URL and GRANITE_DATABASE_URL are both set and differ; set only one");
    apply_text(c, "database.url", it->second, "environment DATABASE_URL");
  }

  for (const auto& s : flags.set) apply_text(c, s.key, s.value, "flag " + s.flag);

  validate(c);
  return c;
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return out;
}

std::string to_json(const config& c) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  config copy = c;
  for (const auto& k : detail::keys()) {
    nlohmann::ordered_json value;
    std::visit([&](auto* p) { value = *p; }, k.field_of(copy));
    auto dot = k.name.find('.');
    if (dot == std::string_view::npos) {
      out[std::string(k.name)] = value;
    } else {
      out[std::string(k.name.substr(0, dot))][std::string(k.name.substr(dot + 1))] = value;
    }
  }
  out["database"]["url"] = mask_password(out["database"]["url"].get<std::string>());
  return out.dump(2);
}

}  // namespace granite::config
