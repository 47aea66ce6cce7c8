// pgoutput's logical replication messages (PostgreSQL's protocol chapter,
// "Logical Replication Message Formats", protocol version 1), decoded into
// the changes the read caches follow. Integers are big-endian; strings end
// in a zero byte; a tuple is a count of columns, then each as 'n' (null),
// 'u' (an unchanged TOASTed value), 't' (text, with its length) or 'b'
// (binary, never asked for here).
#include <cstring>

#include "granite/store/changes.hpp"
#include "granite/text.hpp"

namespace granite::store {

namespace {

// A reader over one message that fails (false) rather than read past it.
struct cursor {
  std::string_view& in;
  bool take(std::size_t n, std::string_view& out) {
    if (in.size() < n) return false;
    out = in.substr(0, n);
    in.remove_prefix(n);
    return true;
  }
  template <class Int>
  bool integer(Int& out) {
    std::string_view bytes;
    if (!take(sizeof(Int), bytes)) return false;
    std::uint64_t v = 0;
    for (unsigned char ch : bytes) v = v << 8 | ch;
    out = static_cast<Int>(v);
    return true;
  }
  bool string(std::string_view& out) {
    auto end = in.find('\0');
    if (end == std::string_view::npos) return false;
    out = in.substr(0, end);
    in.remove_prefix(end + 1);
    return true;
  }
};

}  // namespace

void pgoutput_decoder::add(change c) {
  if (overflowed_) return;
  if (pending_.size() >= most_per_transaction) {
    pending_.assign(1, anything_changed());
    overflowed_ = true;
    return;
  }
  pending_.push_back(c);
}

// One tuple: the ids the change needs, from the columns the relation named.
bool pgoutput_decoder::read_tuple(const relation& r, std::string_view& in, change& c, std::string& error) {
  cursor at{in};
  std::uint16_t columns = 0;
  if (!at.integer(columns)) return error = "a tuple cut short", false;
  for (int i = 0; i < columns; ++i) {
    char kind = 0;
    if (!at.integer(kind)) return error = "a tuple cut short", false;
    if (kind == 'n' || kind == 'u') {
      if (r.which != table::other && (i == r.id || i == r.thread || i == r.user)) return error = "a key column without its value", false;
      continue;
    }
    if (kind != 't' && kind != 'b') return error = "a column of unknown kind", false;
    std::uint32_t length = 0;
    std::string_view value;
    if (!at.integer(length) || !at.take(length, value)) return error = "a column cut short", false;
    if (r.which == table::other || (i != r.id && i != r.thread && i != r.user)) continue;
    if (kind == 'b') return error = "a key column in binary", false;
    auto number = parse_decimal(value);
    if (!number || *number <= 0) return error = "a key column that is not a positive integer", false;
    (i == r.id ? c.id : i == r.thread ? c.thread : c.user) = *number;
  }
  if (r.which == table::other) return true;
  if (c.id == 0 || (r.which == table::posts && (c.thread == 0 || c.user == 0)))
    return error = "a tuple without the columns of its key", false;
  return true;
}

pgoutput_decoder::step pgoutput_decoder::feed(std::string_view message, std::vector<change>& out) {
  step s;
  auto fail = [&s](std::string why) {
    s.ok = false;
    s.error = std::move(why);
    return s;
  };
  cursor at{message};
  char type = 0;
  if (!at.integer(type)) return fail("an empty message");
  switch (type) {
    case 'B': {  // Begin: final LSN, commit time, xid
      std::uint64_t final_lsn = 0, time = 0;
      std::uint32_t xid = 0;
      if (!at.integer(final_lsn) || !at.integer(time) || !at.integer(xid)) return fail("a Begin cut short");
      if (in_transaction_) return fail("a Begin inside a transaction");
      in_transaction_ = true;
      pending_.clear();
      overflowed_ = false;
      return s;
    }
    case 'C': {  // Commit: flags, commit LSN, end LSN, commit time
      std::uint8_t flags = 0;
      std::uint64_t commit_lsn = 0, end_lsn = 0, time = 0;
      if (!at.integer(flags) || !at.integer(commit_lsn) || !at.integer(end_lsn) || !at.integer(time))
        return fail("a Commit cut short");
      if (!in_transaction_) return fail("a Commit outside a transaction");
      in_transaction_ = false;
      out.insert(out.end(), pending_.begin(), pending_.end());
      pending_.clear();
      s.committed = end_lsn;
      return s;
    }
    case 'R': {  // Relation: oid, namespace, name, replica identity, columns
      std::uint32_t oid = 0;
      std::string_view ns, name;
      std::uint8_t identity = 0;
      std::uint16_t columns = 0;
      if (!at.integer(oid) || !at.string(ns) || !at.string(name) || !at.integer(identity) || !at.integer(columns))
        return fail("a Relation cut short");
      relation r;
      if (ns == schema_) r.which = name == "users" ? table::users : name == "threads" ? table::threads
                                 : name == "posts" ? table::posts : table::other;
      for (int i = 0; i < columns; ++i) {
        std::uint8_t flags = 0;
        std::string_view column;
        std::uint32_t type_oid = 0, modifier = 0;
        if (!at.integer(flags) || !at.string(column) || !at.integer(type_oid) || !at.integer(modifier))
          return fail("a Relation cut short");
        if (column == "id") r.id = i;
        else if (r.which == table::posts && column == "thread_id") r.thread = i;
        else if (r.which == table::posts && column == "user_id") r.user = i;
      }
      if (r.which != table::other && (r.id < 0 || (r.which == table::posts && (r.thread < 0 || r.user < 0))))
        return fail("the relation " + printable(name) + " is published without the columns of its key");
      relations_[oid] = r;
      return s;
    }
    case 'I':
    case 'U':
    case 'D': {
      std::uint32_t oid = 0;
      if (!at.integer(oid)) return fail("a change cut short");
      if (!in_transaction_) return fail("a change outside a transaction");
      auto known = relations_.find(oid);
      if (known == relations_.end()) return fail("a change of a relation never described");
      const relation& r = known->second;
      auto kind = r.which == table::users ? change::of::user : r.which == table::threads ? change::of::thread
                                                                                          : change::of::post;
      std::string error;
      // The old row's key ('K') or whole row ('O') where the stream sends
      // it (a delete, an update of the key), then the new row ('N').
      std::optional<change> old;
      std::optional<change> now;
      char part = 0;
      if (!at.integer(part)) return fail("a change without its row");
      if (part == 'K' || part == 'O') {
        if (type == 'I') return fail("an Insert with an old row");
        change c{kind};
        if (!read_tuple(r, message, c, error)) return fail(error);
        old = c;
        if (type == 'U' && !at.integer(part)) return fail("an Update without its new row");
      } else if (type == 'D') {
        return fail("a Delete without its old row");
      }
      if (type != 'D') {
        if (part != 'N') return fail("a change with a tuple of unknown kind");
        change c{kind};
        if (!read_tuple(r, message, c, error)) return fail(error);
        now = c;
      }
      if (!message.empty()) return fail("a change with bytes after its tuples");
      if (r.which == table::other) return s;
      if (type == 'I') add(made_as(*now, change::op::insert));
      else if (type == 'D') add(made_as(*old, change::op::remove));
      else if (!old || *old == *now) add(made_as(*now, change::op::update));
      else {
        add(made_as(*old, change::op::remove));
        add(made_as(*now, change::op::insert));
      }
      return s;
    }
    case 'T': {  // Truncate: relations, options, oids
      std::uint32_t count = 0;
      std::uint8_t options = 0;
      if (!at.integer(count) || !at.integer(options)) return fail("a Truncate cut short");
      if (!in_transaction_) return fail("a Truncate outside a transaction");
      for (std::uint32_t i = 0; i < count; ++i) {
        std::uint32_t oid = 0;
        if (!at.integer(oid)) return fail("a Truncate cut short");
      }
      add(anything_changed());
      return s;
    }
    case 'Y':  // Type, Origin, Message: nothing the caches follow
    case 'O':
    case 'M':
      return s;
    default:
      return fail("a message of unknown type");
  }
}

}  // namespace granite::store
