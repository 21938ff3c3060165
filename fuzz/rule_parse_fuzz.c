/* rule_parse_fuzz.c - libFuzzer target for the rule language: any bytes are
 * parsed as one rule file, their second half once more as a second file of
 * the same set (names defined twice, across files), then the set is checked,
 * every diagnostic formatted and everything freed. ASan and UBSan watch.
 *
 *   make fuzz
 *   build-fuzz/rule_parse_fuzz -dict=fuzz/rule_parse.dict fuzz/corpus/rule_parse */
#include <stddef.h>
#include <stdint.h>

#include "rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rule_set *rs = rule_set_new();
    struct rule_diags d = {0};
    char line[512];

    if (!rs)
        return 0;
    rule_parse(rs, "a.rules", (const char *)data, size, &d);
    rule_parse(rs, "b.rules", (const char *)data + size / 2, size - size / 2, &d);
    rule_check(rs, &d);
    for (size_t i = 0; i < d.n; i++)
        rule_diag_format(&d.items[i], line, sizeof line);
    rule_diags_free(&d);
    rule_set_free(rs);
    return 0;
}
