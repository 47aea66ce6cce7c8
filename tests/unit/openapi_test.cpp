// The OpenAPI document and the router describe the same routes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "granite/config/config.hpp"
#include "granite/features/cached.hpp"
#include "granite/features/features.hpp"
#include "granite/http/cache.hpp"
#include "granite/http/router.hpp"
#include "granite/store/event_loop.hpp"
#include "granite/worker/service_routes.hpp"

using namespace granite;
using nlohmann::json;

namespace {

// Every route a worker serves, as "METHOD /path/{param}".
std::set<std::string> router_routes() {
  config::config cfg;
  http::router r;
  features::register_routes(r, features::deps{cfg});
  std::atomic<bool> closing{false};
  http::read_cache cache(1 << 20, true, features::read_notice);
  boost::asio::io_context loop;
  auto db = store::make_database(loop, {});  // never started: it connects to nothing
  worker::add_service_routes(r, closing, cache, *db);
  std::set<std::string> out;
  for (const auto& route : r.routes()) out.insert(std::string(http::verb_name(route.method)) + " " + route.pattern);
  return out;
}

json document() { return json::parse(features::openapi_json); }

const std::set<std::string> methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};

}  // namespace

TEST(OpenApi, DocumentsEveryRouteOfTheRouterAndNoOther) {
  std::set<std::string> documented;
  auto doc = document();
  for (const auto& [path, item] : doc["paths"].items())
    for (const auto& [method, op] : item.items())
      if (methods.count(method)) {
        std::string upper = method;
        for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        documented.insert(upper + " " + path);
      }
  auto served = router_routes();
  for (const auto& r : served) EXPECT_TRUE(documented.count(r)) << r << " is served but not in src/features/openapi.json";
  for (const auto& d : documented) EXPECT_TRUE(served.count(d)) << d << " is documented but no route serves it";
  EXPECT_GE(served.size(), 20u);
}

TEST(OpenApi, IsAWellFormedOpenApi31Document) {
  auto doc = document();
  EXPECT_EQ(doc["openapi"], "3.1.0");
  EXPECT_TRUE(doc["info"].contains("title"));
  EXPECT_TRUE(doc["info"].contains("version"));
  std::set<std::string> operation_ids;
  for (const auto& [path, item] : doc["paths"].items()) {
    EXPECT_TRUE(path.starts_with("/")) << path;
    for (const auto& [method, op] : item.items()) {
      if (!methods.count(method)) continue;
      EXPECT_TRUE(op.contains("operationId")) << method << " " << path;
      EXPECT_TRUE(operation_ids.insert(op.value("operationId", "")).second) << "operationId repeats: " << op["operationId"];
      ASSERT_TRUE(op.contains("responses")) << method << " " << path;
      EXPECT_FALSE(op["responses"].empty()) << method << " " << path;
    }
  }
  // Every $ref points at something that exists.
  std::function<void(const json&)> check_refs = [&](const json& node) {
    if (node.is_object()) {
      if (node.contains("$ref")) {
        auto ref = node["$ref"].get<std::string>();
        ASSERT_TRUE(ref.starts_with("#/")) << ref;
        EXPECT_TRUE(doc.contains(json::json_pointer(ref.substr(1)))) << "dangling " << ref;
      }
      for (const auto& [k, v] : node.items()) check_refs(v);
    } else if (node.is_array()) {
      for (const auto& v : node) check_refs(v);
    }
  };
  check_refs(doc);
}
