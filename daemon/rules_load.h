/* rules_load.h - reading a rules directory (every *.rules file, in name
 * order) into a checked rule set, for anxind and anxinctl alike. */
#ifndef ANXIN_RULES_LOAD_H
#define ANXIN_RULES_LOAD_H

#include "rule.h"

/* Parses and checks every *.rules file in dir. Returns the set (free with
 * rule_set_free) when there are no errors; otherwise NULL. Every problem,
 * warnings included, goes to diags (also "cannot read DIR" or "no rule
 * files in DIR"). */
struct rule_set *rules_load_dir(const char *dir, struct rule_diags *diags);

#endif
