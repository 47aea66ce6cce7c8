#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "granite/config/config.hpp"
#include "granite/text.hpp"
#include "support/testkit.hpp"

using granite::printable;
using granite::config::config_error;
using granite::config::load;
using granite::config::overrides;

namespace {

std::string write_temp(const std::string& text) {
  std::string path = "/tmp/granite-config-test-" + std::to_string(getpid()) + ".json";
  std::ofstream(path) << text;
  return path;
}

// The message of the config_error that loading throws, or "" if none.
std::string error_of(const overrides& o, const std::map<std::string, std::string>& env = {}) {
  try {
    load(o, env);
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Config, DefaultsAreValid) {
  auto c = load({}, {});
  EXPECT_EQ(c.listen.port, 8080);
  EXPECT_EQ(c.http.idle_timeout_s, 75);
  EXPECT_EQ(c.database.url, "");
  EXPECT_GE(c.worker_count(), 1);
}

TEST(Config, ShippedFileEqualsTheBuiltInDefaults) {
  // config/granite.json documents the defaults; it must not drift from them.
  auto from_file = load({.file = granite::testkit::source_path("config/granite.json")}, {});
  EXPECT_EQ(granite::config::to_json(from_file), granite::config::to_json(load({}, {})));
  // And it lists every key, not only those whose defaults would differ.
  std::ifstream file(granite::testkit::source_path("config/granite.json"));
  EXPECT_EQ(nlohmann::json::parse(file), nlohmann::json::parse(granite::config::to_json(load({}, {}))));
}

TEST(Config, LayersFileThenEnvironmentThenFlags) {
  auto path = write_temp(R"({"listen": {"port": 9000}, "workers": 3, "log": {"level": "debug"}})");
  auto c = load({.file = path, .set = {{"workers", "5", "--workers"}}},
                {{"GRANITE_LISTEN_PORT", "9001"}, {"GRANITE_WORKERS", "4"}});
  EXPECT_EQ(c.listen.port, 9001);     // environment beats file
  EXPECT_EQ(c.workers, 5);            // flag beats environment
  EXPECT_EQ(c.log.level, "debug");    // file beats default
}

TEST(Config, ConfigFileFromEnvironment) {
  auto path = write_temp(R"({"listen": {"port": 9100}})");
  EXPECT_EQ(load({}, {{"GRANITE_CONFIG", path}}).listen.port, 9100);
}

TEST(Config, DatabaseUrlFromEnvironment) {
  EXPECT_EQ(load({}, {{"DATABASE_URL", "postgresql://u@h/db"}}).database.url, "postgresql://u@h/db");
  EXPECT_NE(error_of({}, {{"DATABASE_URL", "dbname=a"}, {"GRANITE_DATABASE_URL", "dbname=b"}}).find("only one"),
            std::string::npos);
  EXPECT_NE(error_of({}, {{"DATABASE_URL", "host='unterminated"}}).find("database.url"), std::string::npos);
}

TEST(Config, UnknownKeysAreRefusedByName) {
  EXPECT_NE(error_of({.file = write_temp(R"({"http": {"bodylimit": 5}})")}).find("unknown key \"http.bodylimit\""),
            std::string::npos);
  EXPECT_NE(error_of({.file = write_temp(R"({"prot": 5})")}).find("\"prot\""), std::string::npos);
  EXPECT_NE(error_of({}, {{"GRANITE_LISTEN_PROT", "1"}}).find("GRANITE_LISTEN_PROT"), std::string::npos);
  EXPECT_NE(error_of({.set = {{"nope.key", "1", "--set nope.key=1"}}}).find("--set nope.key=1"), std::string::npos);
}

TEST(Config, WrongTypesAreRefusedWithKeyAndSource) {
  auto message = error_of({.file = write_temp(R"({"listen": {"port": "80"}})")});
  EXPECT_NE(message.find("listen.port must be an integer, got string \"80\""), std::string::npos) << message;
  EXPECT_NE(message.find("config file"), std::string::npos) << message;
  EXPECT_NE(error_of({.file = write_temp(R"({"listen": {"port": 80.5}})")}).find("must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of({.file = write_temp(R"({"log": {"access": "yes"}})")}).find("true or false"), std::string::npos);
  EXPECT_NE(error_of({.file = write_temp(R"({"listen": 8080})")}).find("unknown key \"listen\""), std::string::npos);
  EXPECT_NE(error_of({.file = write_temp(R"({"workers": {"n": 1}})")}).find("must not be an object"),
            std::string::npos);
  EXPECT_NE(error_of({}, {{"GRANITE_WORKERS", "2x"}}).find("must be an integer, got \"2x\""), std::string::npos);
}

TEST(Config, ImpossibleValuesAreRefused) {
  EXPECT_NE(error_of({.set = {{"listen.port", "0", "--port"}}}).find("out of range 1..65535 (flag --port)"),
            std::string::npos);
  EXPECT_NE(error_of({.set = {{"listen.port", "99999999999999999999", "--port"}}}).find("out of range"),
            std::string::npos);
  EXPECT_NE(error_of({.file = write_temp(R"({"workers": 18446744073709551615})")}).find("out of range"),
            std::string::npos);
  EXPECT_NE(error_of({.set = {{"workers", "-1", "--workers"}}}).find("out of range"), std::string::npos);
  EXPECT_NE(error_of({.set = {{"log.level", "loud", "--set"}}}).find("not one of trace, debug"), std::string::npos);
  EXPECT_NE(error_of({.set = {{"listen.host", "localhost", "--set"}}}).find("not an IPv4 or IPv6 address"),
            std::string::npos);
  EXPECT_NE(error_of({.set = {{"database.replicas", "host=a port=5432, host='unterminated", "--set"}}})
                .find("database.replicas[1] is not a valid libpq connection string"),
            std::string::npos);
  EXPECT_NE(error_of({.file = write_temp(R"({"database": {"replicas": ["host=a", "  "]}})")}).find("blank"),
            std::string::npos);
  EXPECT_NE(error_of({.set = {{"database.replicas", "a,b,c,d,e,f,g,h,i", "--set"}}}).find("at most 8"),
            std::string::npos);
  EXPECT_NE(error_of({.set = {{"database.replica_connection_lifetime_s", "-1", "--set"}}})
                .find("out of range 0..86400"),
            std::string::npos);
}

TEST(Config, BrokenFilesAreRefused) {
  EXPECT_NE(error_of({.file = "/nonexistent/granite.json"}).find("cannot read /nonexistent/granite.json"),
            std::string::npos);
  EXPECT_NE(error_of({.file = write_temp("{\"workers\": ")}).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of({.file = write_temp("[1]")}).find("must hold a JSON object"), std::string::npos);
  // The parser quotes what it read: broken UTF-8 reaches the log as \xNN,
  // text as it is.
  auto quoted = error_of({.file = write_temp("{\"log\": {\"level\": \"caf\xc3\xa9 \xff\xfe\"}}")});
  EXPECT_NE(quoted.find("caf\xc3\xa9 \\xff"), std::string::npos) << quoted;
  EXPECT_EQ(quoted.find('\xff'), std::string::npos) << quoted;
}

TEST(Text, PrintableKeepsTextAndEscapesEveryOtherByte) {
  EXPECT_EQ(printable("plain text, é and 🪨"), "plain text, é and 🪨");
  EXPECT_EQ(printable(std::string("a\0b\x7f\x1b[0m\n", 9)), "a\\x00b\\x7f\\x1b[0m\\x0a");
  EXPECT_EQ(printable("\xc3(\xe2\x82\xf0"), "\\xc3(\\xe2\\x82\\xf0") << "broken UTF-8";
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80") << "a surrogate";
}

TEST(Config, BooleansAndStringsFromText) {
  auto c = load({.set = {{"database.migrate", "off", "--set"}, {"listen.host", "::1", "--set"}}},
                {{"GRANITE_LOG_ACCESS", "false"}});
  EXPECT_FALSE(c.database.migrate);
  EXPECT_FALSE(c.log.access);
  EXPECT_EQ(c.listen.host, "::1");
}

TEST(Config, JsonMasksThePassword) {
  auto text = granite::config::to_json(load({}, {{"DATABASE_URL", "postgresql://app:s3cret@db/forum"}}));
  EXPECT_EQ(text.find("s3cret"), std::string::npos);
  EXPECT_NE(text.find("postgresql://app:***@db/forum"), std::string::npos);
  text = granite::config::to_json(load({}, {{"DATABASE_URL", "host=db password=s3cret dbname=forum"}}));
  EXPECT_EQ(text.find("s3cret"), std::string::npos);
  EXPECT_NE(text.find("host=db password=*** dbname=forum"), std::string::npos) << text;
  text = granite::config::to_json(load({}, {{"DATABASE_URL", R"(password = 'a b\' c' host=db)"}}));
  EXPECT_NE(text.find("password = '***' host=db"), std::string::npos) << text;
  text = granite::config::to_json(load({}, {{"DATABASE_URL", "password='a'host=db"}}));  // libpq needs no space
  EXPECT_NE(text.find("password='***'host=db"), std::string::npos) << text;
  text = granite::config::to_json(load({}, {{"DATABASE_URL", "postgresql://app:p@ss:w@db:5432/forum?sslmode=require"}}));
  EXPECT_NE(text.find("postgresql://app:***@db:5432/forum?sslmode=require"), std::string::npos) << text;
  // Found by tests/fuzz/config.cpp: a quoted value that holds "password=",
  // a password parameter of a URI, a '?' in a URI's password.
  text = granite::config::to_json(load({}, {{"DATABASE_URL", "application_name='password=x' dbname=forum"}}));
  EXPECT_NE(text.find("application_name='password=x' dbname=forum"), std::string::npos) << text;
  text = granite::config::to_json(load({}, {{"DATABASE_URL", "postgresql://app@db/forum?pass%77ord=s3cret&sslmode=disable"}}));
  EXPECT_NE(text.find("postgresql://app@db/forum?pass%77ord=***&sslmode=disable"), std::string::npos) << text;
  text = granite::config::to_json(load({}, {{"DATABASE_URL", "postgresql://app:s3?cret@db/forum"}}));
  EXPECT_NE(text.find("postgresql://app:***@db/forum"), std::string::npos) << text;
  text = granite::config::to_json(load({}, {{"DATABASE_URL", "postgresql://app@db/forum"}}));
  EXPECT_NE(text.find("postgresql://app@db/forum"), std::string::npos) << text;
}

// Found by tests/fuzz/config.cpp: text that is not UTF-8 made check-config
// abort while showing it.
TEST(Config, TextMustBeUtf8) {
  EXPECT_NE(error_of({.set = {{"database.url", "dbname=\xff", "--set"}}}).find("database.url is not UTF-8 text"),
            std::string::npos);
  EXPECT_NE(error_of({.file = write_temp("{\"database\":{\"url\":\"dbname=a\\u0000 password=x\"}}")})
                .find("without NUL"),
            std::string::npos);
  EXPECT_NE(error_of({}, {{"GRANITE_HTTP_TRUSTED_PROXIES", "10.0.0.0/8,\xc3"}}).find("not UTF-8"), std::string::npos);
  EXPECT_EQ(error_of({.set = {{"database.url", "application_name=caf\xc3\xa9", "--set"}}}), "");
}

TEST(Config, EveryKeyHasAnEnvironmentName) {
  for (const auto& key : granite::config::key_names()) {
    std::string env = "GRANITE_";
    for (char ch : key) env += ch == '.' ? '_' : static_cast<char>(std::toupper(ch));
    EXPECT_EQ(error_of({}, {{env, "not-a-valid-value-for-most-keys"}}).find("unknown environment variable"),
              std::string::npos)
        << env;
  }
}

TEST(Config, ARetiredKeyStillLoadsWithAWarningAndIsStillChecked) {
  // database.pool_size (the database threads of earlier releases): a file
  // that sets it keeps loading, and the start says it has no effect.
  auto path = write_temp(R"({"database": {"pool_size": 8}})");
  auto c = load({.file = path}, {});
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("database.pool_size no longer has an effect"), std::string::npos) << c.warnings[0];
  EXPECT_NE(c.warnings[0].find(path), std::string::npos) << "the warning names where the key came from";
  EXPECT_EQ(load({}, {{"GRANITE_DATABASE_POOL_SIZE", "2"}}).warnings.size(), 1u);
  EXPECT_TRUE(load({}, {}).warnings.empty());
  // A value it never accepted is refused as before.
  EXPECT_NE(error_of({}, {{"GRANITE_DATABASE_POOL_SIZE", "0"}}).find("database.pool_size"), std::string::npos);
  // It is not listed among the keys in force.
  EXPECT_EQ(granite::config::to_json(c).find("pool_size"), std::string::npos);
}

TEST(Config, DatabaseConnectionCountsAreBounded) {
  auto c = load({}, {{"GRANITE_DATABASE_READ_CONNECTIONS", "2"}, {"GRANITE_DATABASE_WRITE_CONNECTIONS", "3"}});
  EXPECT_EQ(c.database.read_connections, 2);
  EXPECT_EQ(c.database.write_connections, 3);
  EXPECT_NE(error_of({}, {{"GRANITE_DATABASE_READ_CONNECTIONS", "0"}}).find("database.read_connections"),
            std::string::npos);
  EXPECT_NE(error_of({}, {{"GRANITE_DATABASE_WRITE_CONNECTIONS", "17"}}).find("database.write_connections"),
            std::string::npos);
}

TEST(Config, ATransactionPoolerNeedsADirectUrlForSessions) {
  EXPECT_EQ(load({}, {}).database.pooler, "none");
  auto why = error_of({}, {{"GRANITE_DATABASE_POOLER", "transaction"}});
  EXPECT_NE(why.find("database.pooler = \"transaction\" needs database.listen_url"), std::string::npos) << why;
  auto c = load({}, {{"GRANITE_DATABASE_POOLER", "transaction"},
                     {"GRANITE_DATABASE_URL", "host=bouncer port=6432"},
                     {"GRANITE_DATABASE_LISTEN_URL", "host=db port=5432"}});
  EXPECT_EQ(c.database.pooler, "transaction");
  EXPECT_EQ(c.session_url(), "host=db port=5432");
  EXPECT_EQ(load({}, {{"GRANITE_DATABASE_URL", "host=db"}}).session_url(), "host=db");
  EXPECT_NE(error_of({.set = {{"database.pooler", "session", "--set"}}}).find("not one of none, transaction"),
            std::string::npos);
}

TEST(Config, TrustedProxiesAreAListOfNetworksInEveryLayer) {
  EXPECT_TRUE(load({}, {}).http.trusted_proxies.empty());  // trust nobody
  auto path = write_temp(R"({"http": {"trusted_proxies": ["10.0.0.0/16", "2001:db8::/32", "192.0.2.7"]}})");
  EXPECT_EQ(load({.file = path}, {}).http.trusted_proxies,
            (std::vector<std::string>{"10.0.0.0/16", "2001:db8::/32", "192.0.2.7"}));
  EXPECT_EQ(load({}, {{"GRANITE_HTTP_TRUSTED_PROXIES", "10.0.0.0/8, 172.16.0.0/12"}}).http.trusted_proxies,
            (std::vector<std::string>{"10.0.0.0/8", "172.16.0.0/12"}));
  EXPECT_EQ(load({.set = {{"http.trusted_proxies", "10.1.0.0/16", "--set"}}}, {}).http.trusted_proxies,
            (std::vector<std::string>{"10.1.0.0/16"}));
  // The flag empties what the file said.
  EXPECT_TRUE(load({.file = path, .set = {{"http.trusted_proxies", "", "--set"}}}, {}).http.trusted_proxies.empty());
  // And it shows as a list.
  auto shown = nlohmann::json::parse(granite::config::to_json(load({.file = path}, {})));
  EXPECT_EQ(shown["http"]["trusted_proxies"].size(), 3u);
}

TEST(Config, AnEntryThatIsNoNetworkIsRefusedByName) {
  auto bad = error_of({}, {{"GRANITE_HTTP_TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0.1/33"}});
  EXPECT_NE(bad.find("http.trusted_proxies"), std::string::npos) << bad;
  EXPECT_NE(bad.find("\"10.0.0.1/33\" is not an IPv4 or IPv6 network"), std::string::npos) << bad;
  EXPECT_NE(error_of({}, {{"GRANITE_HTTP_TRUSTED_PROXIES", "10.0.0.0/8,,10.1.0.0/16"}}).find("empty entry"),
            std::string::npos);
  EXPECT_NE(error_of({.file = write_temp(R"({"http": {"trusted_proxies": "10.0.0.0/8"}})")}).find("list of strings"),
            std::string::npos);
  EXPECT_NE(error_of({.file = write_temp(R"({"http": {"trusted_proxies": [10]}})")}).find("list of strings"),
            std::string::npos);
  EXPECT_NE(error_of({.file = write_temp(R"({"http": {"trusted_proxies": ["10.0.0.1/8"]}})")}).find("10.0.0.1/8"),
            std::string::npos);
}

TEST(Config, AccessLogSettings) {
  auto c = load({}, {});
  EXPECT_EQ(c.log.access_file, "");  // standard error
  EXPECT_EQ(c.log.format, "plain");
  EXPECT_EQ(c.log.flush_ms, 500);
  EXPECT_EQ(load({}, {{"GRANITE_LOG_FORMAT", "json"}}).log.format, "json");
  EXPECT_NE(error_of({}, {{"GRANITE_LOG_FORMAT", "xml"}}).find("is not one of plain, json"), std::string::npos);
  EXPECT_NE(error_of({}, {{"GRANITE_LOG_FLUSH_MS", "0"}}).find("log.flush_ms"), std::string::npos);
}

TEST(Config, MetricsListenIsAnAddressAndAPortOrNothing) {
  EXPECT_EQ(load({}, {}).metrics.listen, "127.0.0.1:9464");
  EXPECT_EQ(load({}, {{"GRANITE_METRICS_LISTEN", "[::1]:9100"}}).metrics.listen, "[::1]:9100");
  EXPECT_EQ(load({}, {{"GRANITE_METRICS_LISTEN", ""}}).metrics.listen, "");  // off
  for (const char* bad : {"9464", "localhost:9464", "127.0.0.1:0", "127.0.0.1:65536", "::1:9464", "127.0.0.1:",
                          "[127.0.0.1]:9464"}) {
    auto why = error_of({}, {{"GRANITE_METRICS_LISTEN", bad}});
    EXPECT_NE(why.find("metrics.listen"), std::string::npos) << bad << ": " << why;
  }
  // Never the public port.
  EXPECT_NE(error_of({}, {{"GRANITE_METRICS_LISTEN", "127.0.0.1:8080"}}).find("the public port"), std::string::npos);
  EXPECT_NO_THROW(load({}, {{"GRANITE_METRICS_LISTEN", "127.0.0.1:8080"}, {"GRANITE_LISTEN_PORT", "8081"}}));
}
