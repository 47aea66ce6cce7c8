// The change stream's decoding (store/changes.hpp): pgoutput's messages as
// a walsender might send them, truncated or hostile, and the decoder's
// batches as they might arrive on the channel.
//
// Input: the first byte picks what the rest is. 'b': lines, each a batch's
// text. Anything else: messages, each a length byte and that many bytes,
// fed to one decoder in order.
// Properties:
// - the decoder never reads past a message, and a message it cannot read is
//   an error (the feed then closes the stream: a gap), never a crash;
// - every change it gives is one a notice can carry: a kind, ids above 0
//   (a post's thread and author too), and its notice parses back to it;
// - changes come out only with a Commit, which gives its position;
// - a batch that parses, formatted again with its generation, seq and
//   position, parses back to the same batch.
#include <string>
#include <vector>

#include "fuzz.hpp"
#include "granite/store/changes.hpp"

namespace {

using namespace granite;

void check_change(const store::change& c, bool decoded) {
  using store::change;
  auto notice = store::format_notice(c);
  if (c.kind != change::of::everything) {
    GRANITE_FUZZ_CHECK(c.id > 0, notice);
    if (decoded) GRANITE_FUZZ_CHECK(c.how != change::op::any, notice);  // the stream always knows
    if (c.kind == change::of::post) GRANITE_FUZZ_CHECK(c.thread > 0 && c.user > 0, notice);
  }
  auto back = store::parse_notice(notice);
  GRANITE_FUZZ_CHECK(back && *back == c, notice);
}

void batches(granite::fuzz::input& in) {
  while (!in.empty()) {
    auto line = in.until("\n");
    auto b = store::parse_batch(line);
    if (!b) continue;
    for (const auto& c : b->changes) check_change(c, false);
    std::uint64_t seq = b->seq;
    auto again = store::format_batches(b->generation, seq, b->through, b->changes);
    if (again.size() != 1) continue;  // the text may hold more than a payload carries
    if (b->through == 0) continue;      // "-": format_batches always ends with a position
    auto back = store::parse_batch(again[0]);
    GRANITE_FUZZ_CHECK(back && *back == *b, granite::fuzz::shown(line) + " -> " + granite::fuzz::shown(again[0]));
  }
}

void messages(granite::fuzz::input& in) {
  store::pgoutput_decoder decoder;
  std::vector<store::change> out;
  while (!in.empty()) {
    std::size_t length = in.byte();
    std::string m;
    for (std::size_t i = 0; i < length && !in.empty(); ++i) m += static_cast<char>(in.byte());
    auto before = out.size();
    auto step = decoder.feed(m, out);
    if (!step.ok) {
      GRANITE_FUZZ_CHECK(!step.error.empty(), granite::fuzz::shown(m));
      GRANITE_FUZZ_CHECK(out.size() == before, "changes from a message that failed");
      return;  // the feed closes the stream here
    }
    if (out.size() != before) GRANITE_FUZZ_CHECK(step.committed.has_value(), "changes without a Commit");
    for (std::size_t i = before; i < out.size(); ++i) check_change(out[i], true);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  granite::fuzz::input in(data, size);
  if (in.byte() == 'b') batches(in);
  else messages(in);
  return 0;
}
