"""scripts/benchkit: what it reads from wrk and pgbench (their real output)
and from granite's metrics, its statistics, and the statements it hands
pgbench, which must be the ones granite prepares: python3 bench_test.py
GRANITE_BINARY."""

import json
import re
import subprocess
import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "benchkit"))
import forum  # noqa: E402
import stats  # noqa: E402
from systems import pgbench_pipelined_script, pgbench_script  # noqa: E402

DATA = ROOT / "tests" / "data" / "bench"
GRANITE = None


class Wrk(unittest.TestCase):
    def test_reads_rate_percentiles_and_requests(self):
        r = stats.parse_wrk((DATA / "wrk.txt").read_text())
        self.assertAlmostEqual(r["rate"], 34637.91)
        self.assertEqual(r["requests"], 34912)
        self.assertAlmostEqual(r["latency_ms"][50.0], 0.275)
        self.assertAlmostEqual(r["latency_ms"][90.0], 1.48)
        self.assertAlmostEqual(r["latency_ms"][99.0], 7.63)
        self.assertAlmostEqual(r["max_ms"], 21.05)
        self.assertEqual((r["non2xx"], r["socket_errors"]), (0, 0))

    def test_counts_failed_responses_and_socket_errors(self):
        r = stats.parse_wrk((DATA / "wrk-errors.txt").read_text())
        self.assertEqual(r["non2xx"], 17)
        self.assertEqual(r["socket_errors"], 5)

    def test_a_run_that_did_not_happen_is_an_error(self):
        with self.assertRaises(ValueError):
            stats.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")

    def test_durations_in_every_unit(self):
        self.assertAlmostEqual(stats._duration_ms("250.00us"), 0.25)
        self.assertAlmostEqual(stats._duration_ms("2.5s"), 2500)
        self.assertAlmostEqual(stats._duration_ms("1.00m"), 60000)


class Pgbench(unittest.TestCase):
    def test_reads_tps_and_clients(self):
        r = stats.parse_pgbench((DATA / "pgbench.txt").read_text())
        self.assertAlmostEqual(r["tps"], 47651.075945)
        self.assertEqual(r["clients"], 16)

    def test_a_run_that_did_not_happen_is_an_error(self):
        with self.assertRaises(ValueError):
            stats.parse_pgbench('pgbench: error: connection to server failed\n')


class Metrics(unittest.TestCase):
    def test_reads_by_source_and_nothing_else(self):
        text = ('# HELP granite_database_reads_total Reads answered, by where they were read.\n'
                '# TYPE granite_database_reads_total counter\n'
                'granite_database_reads_total{source="primary"} 12\n'
                'granite_database_reads_total{source="replica 1"} 3400\n'
                'granite_database_reads_behind_total{source="replica 1"} 7\n'
                'granite_database_reads_total_not{source="primary"} 99\n')
        self.assertEqual(stats.parse_reads_by_source(text), {"primary": 12, "replica 1": 3400})
        self.assertEqual(stats.parse_reads_by_source(""), {})


class Summaries(unittest.TestCase):
    def test_median_of_rounds_is_a_measured_value(self):
        self.assertEqual(stats.median([3, 1, 2]), 2)
        self.assertEqual(stats.median([4, 1, 3, 2]), 2)  # the lower middle
        self.assertEqual(stats.median([None, 5]), 5)      # a failed run is left out
        self.assertIsNone(stats.median([]))

    def test_ratios_and_cells(self):
        self.assertEqual(stats.cell(stats.ratio(3, 2), 2), "1.50")
        self.assertEqual(stats.cell(stats.ratio(3, 0)), "-")
        self.assertEqual(stats.cell(stats.ratio(None, 2)), "-")

    def test_markdown_table(self):
        self.assertEqual(stats.table(["a", "b"], [[1, 2]]), "| a | b |\n| --- | ---: |\n| 1 | 2 |")


class Statements(unittest.TestCase):
    def test_parameters_become_pgbench_variables(self):
        sql = {"s": "SELECT 1 WHERE a = $1 AND b > $2 AND c = $10"}
        params = [":k", "0"] + ["x"] * 7 + [":z"]
        self.assertEqual(pgbench_script(sql, [("s", params)], ["\\set k 1"]),
                         "\\set k 1\nSELECT 1 WHERE a = :k AND b > 0 AND c = :z;\n")

    def test_a_pipelined_script_sends_its_statements_to_one_sync(self):
        sql = {"s": "SELECT $1"}
        script = pgbench_pipelined_script(sql, [("s", [":k"])], ["\\set k random(1, 9)"], 3)
        self.assertEqual(script, "\\startpipeline\n" + "\\set k random(1, 9)\nSELECT :k;\n" * 3 + "\\endpipeline\n")

    def test_every_statement_the_bench_runs_is_granites_with_its_parameters(self):
        statements = json.loads(subprocess.run([GRANITE, "statements"], capture_output=True, text=True,
                                               check=True).stdout)
        used = [q for spec in forum.READS.values() for q in spec[3]] + forum.CREATE_POST
        for name, params in used:
            with self.subTest(statement=name):
                self.assertIn(name, statements)
                highest = max(int(n) for n in re.findall(r"\$(\d+)", statements[name]))
                self.assertEqual(highest, len(params), f"{name}: {statements[name]}")

    def test_pgbench_binds_every_read_parameter_as_granite_does(self):
        # A literal (LIMIT 101) would be planned with its value, granite's
        # parameter is not: the reference would run another plan.
        for scenario, spec in forum.READS.items():
            for name, params in spec[3]:
                with self.subTest(scenario=scenario, statement=name):
                    self.assertTrue(all(p.startswith(":") for p in params), params)
                    for variable in params:
                        self.assertTrue(any(v.startswith("\\set " + variable[1:] + " ") for v in spec[4]), variable)


if __name__ == "__main__":
    GRANITE = sys.argv.pop(1)
    unittest.main(verbosity=2)
