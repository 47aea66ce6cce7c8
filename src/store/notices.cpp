#include "granite/store/notices.hpp"

#include "granite/text.hpp"

namespace granite::store {

namespace {

// The next ':'-separated id: digits only, 1 or more.
bool next_id(std::string_view& rest, std::int64_t& out) {
  auto colon = rest.find(':');
  auto text = rest.substr(0, colon);
  rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
  auto id = parse_decimal(text);
  if (!id || *id == 0) return false;
  out = *id;
  return true;
}

char letter(change::of kind) {
  switch (kind) {
    case change::of::user: return 'u';
    case change::of::thread: return 't';
    case change::of::post: return 'p';
    case change::of::everything: break;
  }
  return '*';
}

}  // namespace

std::string format_notice(const change& c) {
  if (c.kind == change::of::everything) return "*";
  std::string out{letter(c.kind), ':'};
  out += std::to_string(c.id);
  if (c.kind == change::of::post) out += ":" + std::to_string(c.thread) + ":" + std::to_string(c.user);
  return out;
}

std::optional<change> parse_notice(std::string_view text) {
  if (text == "*") return anything_changed();
  if (text.size() < 3 || text[1] != ':' || text.back() == ':') return std::nullopt;
  std::string_view rest = text.substr(2);
  change c;
  switch (text[0]) {
    case 'u': c.kind = change::of::user; break;
    case 't': c.kind = change::of::thread; break;
    case 'p': c.kind = change::of::post; break;
    default: return std::nullopt;
  }
  if (!next_id(rest, c.id)) return std::nullopt;
  if (c.kind == change::of::post && (!next_id(rest, c.thread) || !next_id(rest, c.user))) return std::nullopt;
  if (!rest.empty()) return std::nullopt;
  return c;
}

}  // namespace granite::store
