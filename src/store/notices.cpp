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

char op_letter(change::op how) {
  switch (how) {
    case change::op::insert: return '+';
    case change::op::update: return '=';
    case change::op::remove: return '-';
    case change::op::any: break;
  }
  return 0;
}

}  // namespace

std::string format_notice(const change& c) {
  if (c.kind == change::of::everything) return "*";
  std::string out(1, letter(c.kind));
  if (char op = op_letter(c.how)) out += op;
  out += ':';
  out += std::to_string(c.id);
  if (c.kind == change::of::post) out += ":" + std::to_string(c.thread) + ":" + std::to_string(c.user);
  return out;
}

std::optional<change> parse_notice(std::string_view text) {
  if (text == "*") return anything_changed();
  change c;
  if (text.size() > 1) {
    if (text[1] == '+') c.how = change::op::insert;
    else if (text[1] == '=') c.how = change::op::update;
    else if (text[1] == '-') c.how = change::op::remove;
  }
  std::size_t colon = c.how == change::op::any ? 1 : 2;
  if (text.size() < colon + 2 || text[colon] != ':' || text.back() == ':') return std::nullopt;
  std::string_view rest = text.substr(colon + 1);
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
