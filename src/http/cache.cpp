#include "granite/http/cache.hpp"

#include <algorithm>
#include <limits>

// XXH3 compiled in here, nothing to link (CMakeLists.txt).
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "encoding.hpp"
#include "granite/shm/notice_ring.hpp"
#include "granite/text.hpp"

namespace granite::http {

namespace {

// What an entry costs beyond its strings, estimated: the map node with its
// links, the shared response's control block, allocator headers.
constexpr std::size_t entry_overhead = 200;

}  // namespace

std::string etag_of(std::string_view body, std::string_view headers) {
  // XXH3, 64 bits: the same across builds, processes and machines (fixed
  // since xxHash 0.8.0), so every worker of every instance gives the same
  // response the same tag; and 8 KB take it well under a microsecond, where
  // a byte-at-a-time hash (FNV-1a) took 11.
  std::uint64_t h = XXH3_64bits(body.data(), body.size());
  if (!headers.empty()) h = XXH3_64bits_withSeed(headers.data(), headers.size(), h);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(18, '"');
  for (int i = 0; i < 16; ++i) out[static_cast<std::size_t>(1 + i)] = hex[(h >> (60 - 4 * i)) & 0xf];
  return out;
}

std::shared_ptr<const cached_response> kept_response(response&& r, const route* from, bool compress) {
  auto kept = std::make_shared<cached_response>();
  for (const auto& [name, value] : r.headers) kept->headers.append(name).append(": ").append(value).append("\r\n");
  // A record's tags are made of its version, a page's of its bytes.
  bool of_version = !r.etag.empty();
  kept->etag = of_version ? std::move(r.etag) : etag_of(r.body, kept->headers);
  if (compress) kept->gzip = gzip_of(r.body);
  if (!kept->gzip.empty()) kept->gzip_etag = of_version ? gzip_etag_of(kept->etag) : etag_of(kept->gzip, kept->headers);
  kept->varies = !kept->gzip.empty() || (!compress && r.body.size() >= smallest_gzip_body);
  kept->body = std::move(r.body);
  kept->from = from;
  kept->page = r.page;
  return kept;
}

namespace {

// Calls each(tag, weak) for every entity-tag of a list (#entity-tag: tags
// with their quotes, empty elements allowed); false when `value` is not
// such a list.
template <class F>
bool each_entity_tag(std::string_view value, F each) {
  auto etagc = [](unsigned char ch) { return ch == 0x21 || (ch >= 0x23 && ch != 0x7f); };
  auto skip_ows = [&](std::size_t& i) {
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
  };
  std::size_t i = 0;
  while (true) {  // one element of the list: OWS [ entity-tag ] OWS, then ',' or the end
    skip_ows(i);
    if (i < value.size() && value[i] != ',') {
      bool weak = value.substr(i).starts_with("W/");
      if (weak) i += 2;
      if (i == value.size() || value[i] != '"') return false;
      auto open = i++;
      while (i < value.size() && etagc(static_cast<unsigned char>(value[i]))) ++i;
      if (i == value.size() || value[i] != '"') return false;
      ++i;
      each(value.substr(open, i - open), weak);
      skip_ows(i);
    }
    if (i == value.size()) return true;
    if (value[i++] != ',') return false;
  }
}

}  // namespace

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  auto value = trim_ows(if_none_match);
  if (value == "*") return true;
  bool found = false;
  bool valid = each_entity_tag(value, [&](std::string_view tag, bool) { found = found || tag == etag; });
  return valid && found;
}

result<if_match> parse_if_match(std::string_view value) {
  value = trim_ows(value);
  if_match out;
  out.present = true;
  if (value == "*") {
    out.any = true;
    return out;
  }
  if (!each_entity_tag(value, [&](std::string_view tag, bool weak) {
        if (!weak) out.tags.emplace_back(tag);
      }))
    return invalid_argument("If-Match must be * or a list of entity-tags (\"...\"), as an ETag header gives them");
  return out;
}

std::string gzip_etag_of(std::string_view etag) {
  if (etag.size() < 2) return std::string(etag);
  std::string out(etag.substr(0, etag.size() - 1));
  return out.append(gzip_etag_suffix).append(1, etag.back());
}

bool touches(const page_span* span, list_change how, std::int64_t id) {
  if (!span || how == list_change::any) return true;
  if (span->mirrored) {
    if (id <= 0) return true;  // no record has one: never negated into a page
    id = -id;
  }
  if (id <= span->after) return false;
  switch (how) {
    case list_change::insert: return id <= span->last || span->next == 0;
    case list_change::update: return id <= span->last;
    case list_change::remove: return id <= span->last || id == span->next;
    case list_change::any: break;
  }
  return true;
}

read_cache::read_cache(std::size_t limit_bytes, bool enabled, notice_reader reader)
    : limit_(limit_bytes), enabled_(enabled), read_notice_(reader), recent_(new cache_drop[recent_size]) {}

read_cache::~read_cache() = default;

void read_cache::attach(shm::notice_ring* ring) {
  ring_ = ring;
  if (ring_) ring_next_ = ring_->head();
}

bool read_cache::current() const {
  return ring_ ? ring_->trusted(std::chrono::steady_clock::now()) : listening_;
}

void read_cache::raise_floor(std::uint64_t at) {
  if (ring_) return ring_->raise_floor(at);
  floor_ = std::max(floor_, at);
}

std::uint64_t read_cache::replica_floor() const {
  if (!ring_) return floor_;
  if (enabled_ && !ring_->positioned()) return std::numeric_limits<std::uint64_t>::max();
  return ring_->floor();
}

bool read_cache::holds_position(std::uint64_t position) const {
  if (!ring_) return position <= floor_;
  return ring_->positioned() && position <= ring_->applied();
}

void read_cache::sync() {
  if (!ring_ || ring_->head() == ring_next_) return;
  bool complete = ring_->read(ring_next_, [this](std::string_view notice) {
    if (!apply_notice(notice)) flush();
  });
  if (!complete) flush();  // fell so far behind that notices were overwritten
}

void read_cache::apply_own_notice(std::string_view notice) {
  invalidation drops;
  if (!read_notice_(notice, drops)) drops.everything = true;
  apply_own_change(notice, drops);
}

void read_cache::apply_own_change(std::string_view notice, const invalidation& drops) {
  if (!enabled_) return;
  sync();
  apply(drops);
  if (!ring_) return;
  // Applied already: this worker skips its own notice in the ring unless
  // another worker's came in between (then it is read again, harmlessly).
  if (auto at = ring_->publish(notice); at == ring_next_) ring_next_ = at + 1;
}

std::shared_ptr<const cached_response> read_cache::find(std::string_view target) {
  if (!usable()) return nullptr;
  sync();
  auto it = entries_.find(target);
  if (it == entries_.end()) return nullptr;
  ++counters_.hits;
  entry& e = it->second;
  if (newest_ != &e) {  // to the front
    e.newer->older = e.older;
    if (e.older) e.older->newer = e.newer;
    else oldest_ = e.newer;
    e.newer = nullptr;
    e.older = newest_;
    newest_->newer = &e;
    newest_ = &e;
  }
  return e.value;
}

void read_cache::fill(std::string_view target, cache_group group, std::shared_ptr<const cached_response> value,
                      std::uint64_t since) {
  if (!usable()) {
    if (enabled_) ++counters_.bypassed;
    return;
  }
  sync();
  std::size_t bytes = entry_overhead + target.size() + value->body.size() + value->etag.size() +
                      value->headers.size() + value->gzip.size() + value->gzip_etag.size();
  if (bytes > limit_ / 4 || changed_since(group, value->page ? &*value->page : nullptr, since)) {
    ++counters_.refused_fills;
    return;
  }
  if (auto it = entries_.find(target); it != entries_.end()) erase(it->second);
  while (bytes_ + bytes > limit_ && oldest_) {
    erase(*oldest_);
    ++counters_.evictions;
  }
  auto [it, inserted] = entries_.try_emplace(std::string(target));
  entry& e = it->second;
  e.value = std::move(value);
  e.group = group;
  e.bytes = bytes;
  e.key = &it->first;
  e.older = newest_;
  if (newest_) newest_->newer = &e;
  newest_ = &e;
  if (!oldest_) oldest_ = &e;
  auto& head = groups_[group];
  e.group_next = head;
  if (head) head->group_prev = &e;
  head = &e;
  bytes_ += bytes;
  ++counters_.fills;
}

void read_cache::erase(entry& e) {
  if (e.newer) e.newer->older = e.older;
  else newest_ = e.older;
  if (e.older) e.older->newer = e.newer;
  else oldest_ = e.newer;
  if (e.group_next) e.group_next->group_prev = e.group_prev;
  if (e.group_prev) {
    e.group_prev->group_next = e.group_next;
  } else if (e.group_next) {
    groups_[e.group] = e.group_next;
  } else {
    groups_.erase(e.group);
  }
  bytes_ -= e.bytes;
  entries_.erase(*e.key);
}

void read_cache::record(const cache_drop& d) {
  ++epoch_;
  recent_[epoch_ % recent_size] = d;
}

bool read_cache::changed_since(cache_group g, const page_span* span, std::uint64_t since) const {
  if (since < flushed_at_ || epoch_ - since >= recent_size) return true;
  for (std::uint64_t e = since + 1; e <= epoch_; ++e) {
    const cache_drop& d = recent_[e % recent_size];
    if (d.group == g && touches(span, d.how, d.id)) return true;
  }
  return false;
}

void read_cache::invalidate(const cache_drop& d) {
  record(d);
  auto it = groups_.find(d.group);
  if (it == groups_.end()) return;
  entry* e = it->second;
  while (e) {
    entry* next = e->group_next;
    const auto& page = e->value->page;
    if (touches(page ? &*page : nullptr, d.how, d.id)) erase(*e);
    else ++counters_.spared;
    e = next;
  }
}

bool read_cache::apply_notice(std::string_view notice) {
  invalidation drops;
  if (!read_notice_(notice, drops)) return false;
  apply(drops);
  return true;
}

void read_cache::apply(const invalidation& drops) {
  if (drops.everything) {
    flush();
  } else {
    for (std::size_t i = 0; i < drops.count; ++i) invalidate(drops.groups[i]);
  }
  ++counters_.notices;
}

void read_cache::flush() {
  entries_.clear();
  groups_.clear();
  newest_ = oldest_ = nullptr;
  bytes_ = 0;
  flushed_at_ = ++epoch_;
  ++counters_.flushes;
}

void read_cache::set_listening(bool listening) {
  listening_ = listening;
  flush();
}

read_cache::stats read_cache::snapshot() const {
  stats s = counters_;
  s.enabled = enabled_;
  s.listening = current();
  s.entries = entries_.size();
  s.bytes = bytes_;
  s.limit_bytes = limit_;
  return s;
}

}  // namespace granite::http
