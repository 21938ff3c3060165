/* jsonu.c - cJSON helpers (see jsonu.h). */
#include "jsonu.h"

#include <inttypes.h>
#include <stdio.h>

cJSON *jsonu_add_int(cJSON *obj, const char *key, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return cJSON_AddRawToObject(obj, key, buf);
}
