#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

#include "granite/store/migrate.hpp"
#include "support/testkit.hpp"

using namespace granite;

TEST(Migrate, AppliesEveryMigrationOnceAndIsIdempotent) {
  testkit::scratch_database db;
  auto c = db.connect();
  EXPECT_EQ(store::schema_version(*c), 0);
  auto first = store::migrate(*c);
  EXPECT_EQ(first.from, 0);
  EXPECT_EQ(first.to, store::latest_schema_version());
  EXPECT_EQ(first.applied.size(), store::migrations().size());
  auto second = store::migrate(*c);
  EXPECT_TRUE(second.applied.empty());
  EXPECT_EQ(second.to, store::latest_schema_version());
  EXPECT_NO_THROW(store::require_current_schema(*c));
  EXPECT_EQ(db.query("SELECT count(*) FROM granite_schema"), std::to_string(store::migrations().size()));
}

TEST(Migrate, ConcurrentMigrationsApplyEachVersionOnce) {
  testkit::scratch_database db;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 6; ++i)
    threads.emplace_back([&] {
      try {
        auto c = db.connect();
        store::migrate(*c);
      } catch (const std::exception& e) {
        ++failures;
        ADD_FAILURE() << e.what();
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(db.query("SELECT count(*) FROM granite_schema"), std::to_string(store::migrations().size()));
  EXPECT_EQ(db.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                     "database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
            "0");
}

TEST(Migrate, RefusesASchemaNewerThanTheBinary) {
  testkit::scratch_database db;
  auto c = db.connect();
  store::migrate(*c);
  int future = store::latest_schema_version() + 1;
  db.query("INSERT INTO granite_schema (version, name) VALUES (" + std::to_string(future) + ", 'from the future')");
  try {
    store::migrate(*c);
    FAIL() << "migrate accepted a newer schema";
  } catch (const store::schema_error& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this binary"), std::string::npos) << e.what();
  }
  EXPECT_THROW(store::require_current_schema(*c), store::schema_error);
}

TEST(Migrate, WorkersRefuseAnUnmigratedDatabase) {
  testkit::scratch_database db;
  auto c = db.connect();
  try {
    store::require_current_schema(*c);
    FAIL() << "an empty database was accepted";
  } catch (const store::schema_error& e) {
    EXPECT_NE(std::string(e.what()).find("granite migrate"), std::string::npos) << e.what();
  }
}

TEST(Migrate, RefusesANonUtf8Database) {
  testkit::scratch_database db("SQL_ASCII");
  auto c = db.connect();
  try {
    store::migrate(*c);
    FAIL() << "a SQL_ASCII database was accepted";
  } catch (const store::schema_error& e) {
    EXPECT_NE(std::string(e.what()).find("UTF8"), std::string::npos) << e.what();
  }
  EXPECT_EQ(db.query("SELECT to_regclass('users') IS NULL"), "t");
}

TEST(Connection, UnreachableDatabaseIsUnavailable) {
  int port = testkit::free_port();
  store::connect_options o{"host=127.0.0.1 port=" + std::to_string(port), 1000, 2, "test"};
  EXPECT_THROW(store::connection c(o), store::unavailable);
}

TEST(Connection, UserSettingsWinOverGraniteDefaults) {
  auto info = store::conninfo({"postgresql://app@db.example:6000/forum?application_name=mine&connect_timeout=9", 0, 5,
                               "granite"});
  EXPECT_NE(info.find("application_name='mine'"), std::string::npos) << info;
  EXPECT_NE(info.find("connect_timeout='9'"), std::string::npos) << info;
  EXPECT_NE(info.find("port='6000'"), std::string::npos) << info;
  EXPECT_NE(info.find("client_encoding='UTF8'"), std::string::npos) << info;
  info = store::conninfo({R"(dbname=x password='it\'s')", 0, 5, "granite"});
  EXPECT_NE(info.find(R"(password='it\'s')"), std::string::npos) << info;
  EXPECT_NE(info.find("application_name='granite'"), std::string::npos) << info;
  EXPECT_NE(info.find("connect_timeout='5'"), std::string::npos) << info;
  EXPECT_THROW(store::conninfo({"host='open", 0, 5, "granite"}), store::unavailable);
}

TEST(Connection, WritersAskForAServerThatTakesWrites) {
  // Whatever the URL asks, a session that writes wants the writer; one that
  // reads takes the URL's choice (a multi-host URL's standby, later).
  std::string url = "host=a,b port=5432,5433 target_session_attrs=any";
  EXPECT_NE(store::conninfo({url, 0, 5, "granite"}).find("target_session_attrs='read-write'"), std::string::npos);
  store::connect_options reader{url, 0, 5, "granite"};
  reader.writer = false;
  auto info = store::conninfo(reader);
  EXPECT_NE(info.find("target_session_attrs='any'"), std::string::npos) << info;
  EXPECT_NE(info.find("host='a,b'"), std::string::npos) << info;
}

TEST(Connection, StatementTimeoutApplies) {
  testkit::scratch_database db;
  store::connection c({db.url(), 100, 5, "test"});
  pqxx::nontransaction tx(c.raw());
  try {
    tx.exec("SELECT pg_sleep(2)");
    FAIL() << "the statement was not cancelled";
  } catch (const pqxx::sql_error& e) {
    EXPECT_EQ(e.sqlstate(), "57014");
  }
}
