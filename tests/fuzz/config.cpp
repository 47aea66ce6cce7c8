// The configuration: a file, --set values and the environment, as
// config::load reads them at start and in `granite check-config`.
//
// Input (text): the file's JSON, then optionally a line "--set" and
// key=value lines, then optionally a line "--env" and NAME=value lines. No
// file when its part is blank.
// Properties:
// - any input either loads or is refused with a config_error;
// - what loads, shown (to_json) and loaded again as a file, shows the same;
// - what is shown holds no database password: the shown database.url is a
//   valid connection string whose password, if any, is "***".
#include <libpq-fe.h>
#include <sys/mman.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "fuzz.hpp"
#include "granite/config/config.hpp"

namespace {

using namespace granite;

// A file that holds `text`, open until it goes out of scope.
class memory_file {
 public:
  explicit memory_file(std::string_view text) : fd_(memfd_create("granite-fuzz-config", 0)) {
    GRANITE_FUZZ_CHECK(fd_ >= 0, "memfd_create");
    GRANITE_FUZZ_CHECK(write(fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size()), "write");
  }
  ~memory_file() { close(fd_); }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

void lines(std::string_view text, const std::function<void(std::string_view, std::string_view)>& each) {
  while (!text.empty()) {
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    auto eq = line.find('=');
    if (eq != std::string_view::npos) each(line.substr(0, eq), line.substr(eq + 1));
  }
}

void check_password_hidden(const std::string& shown, const std::string& input) {
  auto url = nlohmann::json::parse(shown)["database"]["url"].get<std::string>();
  if (url.empty()) return;
  char* message = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &message);
  PQfreemem(message);
  GRANITE_FUZZ_CHECK(options != nullptr, "the shown database.url does not parse: " + url + "\ninput: " + input);
  std::string password;
  for (auto* o = options; o->keyword; ++o)
    if (std::string_view(o->keyword) == "password" && o->val) password = o->val;
  PQconninfoFree(options);
  GRANITE_FUZZ_CHECK(password.empty() || password == "***", "shown: " + url + "\ninput: " + input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  granite::fuzz::input in(data, size);
  auto file_text = in.until("\n--set\n");
  auto set_text = in.until("\n--env\n");
  auto env_text = in.rest();

  config::overrides flags;
  std::optional<memory_file> file;
  if (file_text.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    file.emplace(file_text);
    flags.file = file->path();
  }
  lines(set_text, [&](std::string_view k, std::string_view v) {
    flags.set.push_back({std::string(k), std::string(v), "--set"});
  });
  std::map<std::string, std::string> env;
  lines(env_text, [&](std::string_view k, std::string_view v) { env[std::string(k)] = std::string(v); });
  env.erase("GRANITE_CONFIG");  // a path of the input's choosing: /dev/zero never ends

  auto input = granite::fuzz::shown(std::string_view(reinterpret_cast<const char*>(data), size));
  config::config loaded;
  try {
    loaded = config::load(flags, env);
  } catch (const config::config_error& e) {
    GRANITE_FUZZ_CHECK(std::string_view(e.what()).starts_with("config: "), e.what());
    return 0;
  }
  auto shown = config::to_json(loaded);
  check_password_hidden(shown, input);
  memory_file again(shown);
  config::overrides from_shown;
  from_shown.file = again.path();
  try {
    auto reloaded = config::load(from_shown, {});
    GRANITE_FUZZ_CHECK(config::to_json(reloaded) == shown, shown + "\nshown again:\n" + config::to_json(reloaded));
  } catch (const config::config_error& e) {
    granite::fuzz::failed("the shown configuration does not load", std::string(e.what()) + "\n" + shown + "\ninput: " + input);
  }
  return 0;
}
