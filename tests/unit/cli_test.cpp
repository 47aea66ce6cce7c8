#include <gtest/gtest.h>

#include "granite/cli.hpp"

using granite::cli::parse;
using granite::cli::usage_error;

TEST(Cli, ParsesCommandsAndFlags) {
  auto inv = parse({"serve", "--config", "c.json", "--port", "9000", "--workers", "3", "--set", "log.level=debug"});
  EXPECT_EQ(inv.command, "serve");
  EXPECT_EQ(*inv.overrides.file, "c.json");
  ASSERT_EQ(inv.overrides.set.size(), 3u);
  EXPECT_EQ(inv.overrides.set[0].key, "listen.port");
  EXPECT_EQ(inv.overrides.set[0].flag, "--port");
  EXPECT_EQ(inv.overrides.set[2].key, "log.level");
  EXPECT_EQ(inv.overrides.set[2].value, "debug");
}

TEST(Cli, SeedTakesAFileAndAMode) {
  auto inv = parse({"seed", "--file", "f.json", "--replace"});
  EXPECT_EQ(*inv.seed_file, "f.json");
  EXPECT_EQ(inv.seed_mode, granite::store::seed_mode::replace);
  EXPECT_EQ(parse({"seed", "--if-empty", "--file", "x"}).seed_mode, granite::store::seed_mode::if_empty);
}

TEST(Cli, HelpAndVersionWinAnywhere) {
  EXPECT_EQ(parse({"--help"}).command, "help");
  EXPECT_EQ(parse({"serve", "-h"}).command, "help");
  EXPECT_EQ(parse({"--version"}).command, "version");
  EXPECT_EQ(parse({"version"}).command, "version");
  EXPECT_EQ(parse({"statements"}).command, "statements");
}

TEST(Cli, MistakesAreUsageErrors) {
  EXPECT_THROW(parse({}), usage_error);
  EXPECT_THROW(parse({"serv"}), usage_error);
  EXPECT_THROW(parse({"serve", "--port"}), usage_error);
  EXPECT_THROW(parse({"serve", "--bogus"}), usage_error);
  EXPECT_THROW(parse({"serve", "extra"}), usage_error);
  EXPECT_THROW(parse({"seed"}), usage_error);
  EXPECT_THROW(parse({"seed", "--file", "f", "--replace", "--if-empty"}), usage_error);
  EXPECT_THROW(parse({"serve", "--file", "f"}), usage_error);
  EXPECT_THROW(parse({"serve", "--set", "novalue"}), usage_error);
}

TEST(Cli, SeedTakesASyntheticSizeInsteadOfAFile) {
  auto inv = parse({"seed", "--synthetic", "users=10,threads=2,posts=40", "--replace"});
  EXPECT_EQ(*inv.synthetic, "users=10,threads=2,posts=40");
  EXPECT_FALSE(inv.seed_file);
  EXPECT_THROW(parse({"seed", "--synthetic", "users=1", "--file", "f"}), usage_error);
  EXPECT_THROW(parse({"serve", "--synthetic", "users=1"}), usage_error);
  EXPECT_THROW(parse({"seed", "--synthetic"}), usage_error);
}

TEST(Cli, GrantAndRevokeNameOneRoleAndOneUsername) {
  auto inv = parse({"grant", "moderator", "ines", "--config", "c.json"});
  EXPECT_EQ(inv.command, "grant");
  EXPECT_EQ(inv.username, "ines");
  EXPECT_EQ(parse({"revoke", "moderator", "Ines"}).username, "Ines");
  EXPECT_EQ(parse({"moderators"}).command, "moderators");
  EXPECT_THROW(parse({"grant"}), usage_error);
  EXPECT_THROW(parse({"grant", "moderator"}), usage_error);
  EXPECT_THROW(parse({"grant", "admin", "ines"}), usage_error);
  EXPECT_THROW(parse({"revoke", "moderator", "ines", "more"}), usage_error);
  EXPECT_THROW(parse({"revoke", "moderator", ""}), usage_error);
  EXPECT_THROW(parse({"moderators", "ines"}), usage_error);
  EXPECT_THROW(parse({"serve", "moderator"}), usage_error);
}

TEST(SyntheticSpec, ReadsCountsAndLeavesOutZero) {
  auto s = granite::store::parse_synthetic("users=100000,threads=200000,posts=2000000");
  EXPECT_EQ(s.users, 100000);
  EXPECT_EQ(s.threads, 200000);
  EXPECT_EQ(s.posts, 2000000);
  auto only_users = granite::store::parse_synthetic("users=7");
  EXPECT_EQ(only_users.users, 7);
  EXPECT_EQ(only_users.threads, 0);
  EXPECT_EQ(only_users.posts, 0);
}

TEST(SyntheticSpec, RefusesWhatItCannotGenerate) {
  auto message = [](const char* spec) {
    try {
      granite::store::parse_synthetic(spec);
    } catch (const granite::store::seed_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message(""), "--synthetic: give counts, e.g. users=100000,threads=200000,posts=2000000");
  EXPECT_EQ(message("people=3"), "--synthetic: \"people=3\" is not users=N, threads=N or posts=N");
  EXPECT_EQ(message("users"), "--synthetic: \"users\" is not users=N, threads=N or posts=N");
  EXPECT_EQ(message("users=1,users=2"), "--synthetic: users is given more than once");
  EXPECT_EQ(message("users=-1"), "--synthetic: users must be a count from 0 to 100000000, got \"-1\"");
  EXPECT_EQ(message("users=1e3"), "--synthetic: users must be a count from 0 to 100000000, got \"1e3\"");
  EXPECT_EQ(message("users=100000001"), "--synthetic: users must be a count from 0 to 100000000, got \"100000001\"");
  EXPECT_EQ(message("threads=5"), "--synthetic: threads need users to start them");
  EXPECT_EQ(message("users=5,posts=5"), "--synthetic: posts need threads and users");
  EXPECT_EQ(message("users=5,threads=1,"), "--synthetic: \"\" is not users=N, threads=N or posts=N");
}
