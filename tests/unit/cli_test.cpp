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
