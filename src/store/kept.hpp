#pragma once

// Writes kept under an idempotency key (batch::keep_under), as the
// connections send them; private to store/. The SQL side is migration
// 0007_idempotency_keys.sql.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "granite/store/async.hpp"

namespace granite::store {

// Claims the key ($1 user, $2 key, $3 wait for a request still running):
// sent first in a kept batch. Prepared on every connection, as is the read
// of what a key keeps.
extern const statement claim_key;
extern const statement kept_read;

// The statement that runs `write` and keeps the rows it returns under the
// key, in one statement: `write`'s own parameters, then the key's user,
// the key, the request's digest (hex) and the seconds it is kept. Named
// `write`'s name + "_kept"; made once per statement, and prepared on a
// connection by the first batch there that needs it.
const statement& keeping(const statement& write);

// A record's text as PostgreSQL writes it ("(1,\"a b\",,x)"): its fields,
// null where a field is NULL; nothing when it is not a record's text.
std::optional<std::vector<std::optional<std::string>>> record_fields(std::string_view text);

}  // namespace granite::store
