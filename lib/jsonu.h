/* jsonu.h - small cJSON helpers shared by the modules that write JSON. */
#ifndef ANXIN_JSONU_H
#define ANXIN_JSONU_H

#include <cjson/cJSON.h>
#include <stdint.h>

/* Adds an exact integer member. cJSON stores numbers as doubles and prints
 * them with 15 significant digits when that reads back "close enough", so
 * 9007199254740991 would come out as 9.00719925474099e+15; this writes the
 * decimal digits instead. Returns the new item or NULL. */
cJSON *jsonu_add_int(cJSON *obj, const char *key, int64_t v);

#endif
