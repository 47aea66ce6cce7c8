#pragma once

// Real answers held against the OpenAPI document (src/features/openapi.json):
// the status is one the operation documents, the body is of a documented
// media type and matches its schema, and each documented header that the
// answer carries holds its schema. Schemas are read by a checker of the
// JSON Schema keywords the document uses: $ref, type, enum, required,
// properties, additionalProperties, items, minimum, minLength, maxLength,
// pattern, format date-time.
#include <string>

#include <nlohmann/json.hpp>

#include "support/http_client.hpp"

namespace granite::testkit {

class openapi_check {
 public:
  openapi_check();  // reads the document from the source tree
  // What is wrong with `r` as the answer to `method` `target`; empty when
  // nothing is.
  std::string problems(const std::string& method, const std::string& target, const http_response& r) const;
  // What is wrong with `value` against `schema` (a $ref is followed).
  std::string schema_problems(const nlohmann::json& schema, const nlohmann::json& value) const;

 private:
  const nlohmann::json& resolve(const nlohmann::json& node) const;
  void check(const nlohmann::json& schema, const nlohmann::json& value, const std::string& where,
             std::string& out) const;
  nlohmann::json doc_;
};

}  // namespace granite::testkit
