#include "granite/store/changes.hpp"

#include <cstdio>

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

namespace {

std::string batch_head(std::uint64_t generation, std::uint64_t seq) {
  char text[48];
  std::snprintf(text, sizeof text, "%llx/%llu ", static_cast<unsigned long long>(generation),
                static_cast<unsigned long long>(seq));
  return text;
}

// The next space-separated word of `rest`.
std::string_view next_word(std::string_view& rest) {
  auto space = rest.find(' ');
  auto word = rest.substr(0, space);
  rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
  return word;
}

std::optional<std::uint64_t> parse_hex(std::string_view text) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  std::uint64_t out = 0;
  for (char ch : text) {
    int digit = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
    if (digit < 0) return std::nullopt;
    out = out << 4 | static_cast<std::uint64_t>(digit);
  }
  return out;
}

}  // namespace

std::vector<std::string> format_batches(std::uint64_t generation, std::uint64_t& next_seq, lsn through,
                                        const std::vector<change>& changes) {
  std::vector<std::string> out;
  std::string words;  // the notices of the payload being filled, each after a space
  auto close = [&](bool last) {
    out.push_back(batch_head(generation, next_seq++) + (last ? format_lsn(through) : "-") + words);
    words.clear();
  };
  for (const auto& c : changes) {
    auto notice = format_notice(c);
    if (48 + 20 + words.size() + 1 + notice.size() > batch_payload_limit) close(false);
    words += ' ';
    words += notice;
  }
  close(true);
  return out;
}

std::optional<change_batch> parse_batch(std::string_view text) {
  change_batch b;
  if (!text.empty() && text.back() == ' ') return std::nullopt;
  auto head = next_word(text);
  auto slash = head.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto generation = parse_hex(head.substr(0, slash));
  auto seq = parse_decimal(head.substr(slash + 1));
  if (!generation || !seq || *seq == 0) return std::nullopt;
  b.generation = *generation;
  b.seq = *seq;
  auto through = next_word(text);
  if (through != "-") {
    auto at = parse_lsn(through);
    if (!at || *at == 0) return std::nullopt;
    b.through = *at;
  }
  while (!text.empty()) {
    auto c = parse_notice(next_word(text));
    if (!c) return std::nullopt;
    b.changes.push_back(*c);
  }
  return b;
}

}  // namespace granite::store
