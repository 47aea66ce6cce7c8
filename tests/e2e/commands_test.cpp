// The command-line tools, as an operator runs them.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "granite/exit_codes.hpp"
#include "granite/store/migrate.hpp"
#include "support/testkit.hpp"

using namespace granite;

namespace {

struct Commands : ::testing::Test {
  testkit::scratch_database db;
  std::map<std::string, std::string> env{{"DATABASE_URL", db.url()}};

  std::string counts() {
    return db.query("SELECT (SELECT count(*) FROM users) || '/' || (SELECT count(*) FROM threads) || '/' || "
                    "(SELECT count(*) FROM posts)");
  }
  std::string write(const std::string& text) {
    std::string path = "/tmp/granite-seed-" + std::to_string(getpid()) + ".json";
    std::ofstream(path) << text;
    return path;
  }
};

}  // namespace

TEST_F(Commands, MigrateIsIdempotent) {
  auto first = testkit::run_granite({"migrate"}, env);
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("migrated from version 0 to " + std::to_string(store::latest_schema_version())),
            std::string::npos)
      << first.err;
  auto second = testkit::run_granite({"migrate"}, env);
  EXPECT_EQ(second.exit_code, 0);
  EXPECT_NE(second.err.find("schema is at version"), std::string::npos) << second.err;
}

TEST_F(Commands, SeedLoadsTheDemoForum) {
  auto r = testkit::run_granite({"seed", "--file", testkit::source_path("config/demo-forum.json")}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("seeded 4 users, 3 threads and 9 posts"), std::string::npos) << r.err;
  EXPECT_EQ(counts(), "4/3/9");
}

TEST_F(Commands, BadSeedFileLoadsNothingAndNamesTheRecord) {
  auto path = write(R"({"users": [{"id": 1, "username": "a"}, {"id": 2, "username": "b"}],
                        "threads": [{"id": 1, "title": "t", "createdBy": 1}],
                        "posts": [{"thread": 1, "text": "fine", "user": 2}, {"thread": 1, "text": "orphan", "user": 3}]})");
  auto r = testkit::run_granite({"seed", "--file", path}, env);
  EXPECT_EQ(r.exit_code, exit_code::data_error);
  EXPECT_NE(r.err.find("nothing was loaded"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("posts[1].user: user 3 does not exist"), std::string::npos) << r.err;
  EXPECT_EQ(counts(), "0/0/0");

  r = testkit::run_granite({"seed", "--file", write("{\"users\": [{\"id\": 1, \"username\": \"nul\\u0000\"}]}")}, env);
  EXPECT_EQ(r.exit_code, exit_code::data_error);
  EXPECT_NE(r.err.find("users[0].username: contains a NUL character"), std::string::npos) << r.err;

  r = testkit::run_granite({"seed", "--file", write("{\"users\": [}")}, env);
  EXPECT_EQ(r.exit_code, exit_code::data_error);
  EXPECT_NE(r.err.find("not valid JSON at line 1"), std::string::npos) << r.err;

  r = testkit::run_granite({"seed", "--file", "/nonexistent.json"}, env);
  EXPECT_EQ(r.exit_code, exit_code::data_error);
  EXPECT_NE(r.err.find("cannot read /nonexistent.json"), std::string::npos) << r.err;
  EXPECT_EQ(counts(), "0/0/0");
}

TEST_F(Commands, SeedModes) {
  auto demo = testkit::source_path("config/demo-forum.json");
  ASSERT_EQ(testkit::run_granite({"seed", "--file", demo}, env).exit_code, 0);
  auto again = testkit::run_granite({"seed", "--file", demo}, env);
  EXPECT_EQ(again.exit_code, exit_code::data_error);
  EXPECT_NE(again.err.find("users[0].id: 1 already exists in the database"), std::string::npos) << again.err;
  auto if_empty = testkit::run_granite({"seed", "--file", demo, "--if-empty"}, env);
  EXPECT_EQ(if_empty.exit_code, 0);
  EXPECT_NE(if_empty.err.find("already holds data"), std::string::npos) << if_empty.err;
  // What the sign-in limits keep goes with the users it is about.
  db.query("INSERT INTO sign_in_failures VALUES ('someone', 3, now(), NULL)");
  db.query("INSERT INTO sign_in_networks SELECT id, '192.0.2.0/24', now() FROM users ORDER BY id LIMIT 1");
  auto replace = testkit::run_granite({"seed", "--file", testkit::source_path("tests/data/forum.json"), "--replace"}, env);
  EXPECT_EQ(replace.exit_code, 0) << replace.err;
  EXPECT_EQ(counts(), "4/3/5");
  EXPECT_EQ(db.query("SELECT (SELECT count(*) FROM sign_in_failures) + (SELECT count(*) FROM sign_in_networks)"), "0");
}

TEST_F(Commands, CheckConfigNamesTheBadKeyInOneLine) {
  auto ok = testkit::run_granite({"check-config", "--config", testkit::source_path("config/granite.json")}, env);
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_NE(ok.out.find("\"port\": 8080"), std::string::npos);
  auto bad = testkit::run_granite({"check-config", "--workers", "many"}, env);
  EXPECT_EQ(bad.exit_code, exit_code::config);
  EXPECT_EQ(bad.err, "granite: config: workers must be an integer, got \"many\" (flag --workers)\n");
  auto serve_bad = testkit::run_granite({"serve", "--set", "http.idle_timeout_s=0"}, env);
  EXPECT_EQ(serve_bad.exit_code, exit_code::config);
  EXPECT_NE(serve_bad.err.find("http.idle_timeout_s = 0 is out of range"), std::string::npos) << serve_bad.err;
}

TEST_F(Commands, VersionHelpAndUsageErrors) {
  auto v = testkit::run_granite({"version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("granite ", 0), 0u);
  EXPECT_NE(v.out.find("(schema " + std::to_string(store::latest_schema_version()) + ")"), std::string::npos);
  auto help = testkit::run_granite({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* word : {"serve", "migrate", "seed", "check-config", "version", "--config", "--port", "--workers"})
    EXPECT_NE(help.out.find(word), std::string::npos) << word;
  auto bad = testkit::run_granite({"launch"});
  EXPECT_EQ(bad.exit_code, exit_code::usage);
  EXPECT_NE(bad.err.find("unknown command \"launch\""), std::string::npos);
}

TEST_F(Commands, UnreachableDatabaseIsExit69) {
  auto r = testkit::run_granite({"migrate"}, {{"DATABASE_URL", "host=127.0.0.1 port=" + std::to_string(testkit::free_port())}});
  EXPECT_EQ(r.exit_code, exit_code::unavailable);
  EXPECT_NE(r.err.find("cannot connect to PostgreSQL"), std::string::npos) << r.err;
}

TEST_F(Commands, StatementsPrintsWhatEachRouteRunsAndItRunsAsPrinted) {
  auto r = testkit::run_granite({"statements"});
  ASSERT_EQ(r.exit_code, exit_code::ok) << r.err;
  auto all = nlohmann::json::parse(r.out);
  ASSERT_TRUE(all.is_object());
  EXPECT_GE(all.size(), 20u);
  EXPECT_EQ(all["users_by_id"],
            "SELECT id, username, name, bio, granite_version(updated_at) FROM users WHERE id = $1");
  // Each is valid SQL against the schema: PostgreSQL prepares every one.
  ASSERT_EQ(testkit::run_granite({"migrate"}, env).exit_code, exit_code::ok);
  for (const auto& [name, sql] : all.items())
    EXPECT_NO_THROW(db.query("PREPARE probe_" + name + " AS " + sql.get<std::string>() + "; DEALLOCATE probe_" + name))
        << name;
}
