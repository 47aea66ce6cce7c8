#include "placement.hpp"

#include <algorithm>

namespace granite::store {

namespace {

std::optional<std::size_t> flowing(std::span<const link_state> links) {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < links.size(); ++i)
    if (links[i].ready && !links[i].stalled && (!best || links[i].outstanding < links[*best].outstanding)) best = i;
  return best;
}

std::optional<std::size_t> idle(std::span<const link_state> links) {
  for (std::size_t i = 0; i < links.size(); ++i)
    if (links[i].ready && links[i].outstanding == 0) return i;
  return std::nullopt;
}

}  // namespace

std::optional<placement> place_batch(database::lane lane, std::span<const link_state> reads,
                                     std::span<const link_state> writes) {
  using L = database::lane;
  if (lane == L::write) {
    if (auto w = flowing(writes)) return placement{L::write, *w};
    return std::nullopt;
  }
  auto r = flowing(reads);
  if (!r || reads[*r].outstanding > 0)
    if (auto w = idle(writes)) return placement{L::write, *w};
  if (r) return placement{L::read, *r};
  bool any_read_ready = std::any_of(reads.begin(), reads.end(), [](const link_state& s) { return s.ready; });
  if (!any_read_ready)
    if (auto w = flowing(writes)) return placement{L::write, *w};
  return std::nullopt;
}

}  // namespace granite::store
