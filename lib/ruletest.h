/* ruletest.h - unit tests for rules, in the manner of `promtool test
 * rules`: a test file describes elders and devices, the telemetry they send
 * over (virtual) time, and the alerts expected at given times. Run by
 * `anxinctl test-rules FILE...`; the format is in docs/rules.md ("Testing
 * rules"). Pure: the caller reads the file and prints the report. */
#ifndef ANXIN_RULETEST_H
#define ANXIN_RULETEST_H

#include <stdbool.h>
#include <stddef.h>

#include "rule.h"

struct rtest_result {
    char name[128];
    int line;
    bool passed;
    char **failures;                /* "at 12h: expected ...", owned */
    size_t n_failures;
};

struct rtest_report {
    struct rtest_result *tests;     /* owned */
    size_t n_tests;
    size_t n_passed, n_failed;
    char **errors;                  /* syntax errors: "file:line: ...", owned */
    size_t n_errors;
};

/* Parses and runs every test in one file against the checked rule set rs.
 * utc_offset_min as in the daemon. Returns 0 (see report for failures),
 * ANX_EPARSE (report.errors says why, no test ran) or ANX_ENOMEM. */
int rtest_run(const char *file, const char *text, size_t len, const struct rule_set *rs,
              int utc_offset_min, struct rtest_report *report);

void rtest_report_free(struct rtest_report *r);

#endif
