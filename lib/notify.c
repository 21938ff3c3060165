/* notify.c - recipients, message text and the webhook body. */
#include "notify.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "jsonu.h"
#include "tmpl.h"

void notify_msg_free(struct notify_msg *n)
{
    if (!n)
        return;
    free(n->text);
    free(n->sms_text);
    free(n);
}

size_t notify_first_step(const struct reg_elder *e, size_t *out_idx, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < e->n_contacts && n < max; i++)
        if (e->contacts[i].priority == 1 && (e->contacts[i].channels & REG_CHANNEL_SMS))
            out_idx[n++] = i;
    return n;
}

void notify_format_local(int64_t ms, int utc_offset_min, char out[NOTIFY_TIME_LEN])
{
    civil_format(ms, utc_offset_min, out);  /* years past 9999 wrap: no text needs them */
}

const char *notify_event_title(const char *event)
{
    static const char *const names[][2] = {
        {"sos", "呼叫"}, {"fall", "跌倒"}, {"smoke", "烟雾"}, {"gas", "燃气"},
        {"water_leak", "漏水"}, {"wander", "走失"}, {"tamper", "设备被拆动"},
    };
    for (size_t i = 0; event && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(event, names[i][0]) == 0)
            return names[i][1];
    return NULL;
}

int notify_render_sms(const struct rule *r, const struct alert *a, const struct reg_elder *e,
                      const char *device_kind, const char *event, const char *value,
                      int utc_offset_min, char *out, size_t len)
{
    const char *etitle = notify_event_title(event);
    char when[NOTIFY_TIME_LEN], hm[8], id[24];
    notify_format_local(a->event_ts_ms, utc_offset_min, when);
    snprintf(hm, sizeof hm, "%.5s", when + 11);
    when[10] = '\0';
    snprintf(id, sizeof id, "%" PRId64, a->id);
    const struct tmpl_field fields[] = {
        {"elder.id", e->id},
        {"elder.name", e->name},
        {"elder.village", e->village ? e->village : ""},
        {"elder.township", e->township ? e->township : ""},
        {"elder.grid", e->grid ? e->grid : ""},
        {"device.id", a->device_id},
        {"device.kind", device_kind ? device_kind : ""},
        {"rule.name", r->name},
        {"rule.title", r->title},
        {"event", event ? event : ""},
        {"value", value ? value : ""},
        {"event.title", etitle ? etitle : event && *event ? event : r->title},
        {"severity", rule_severity_name(r->severity)},
        {"alert.id", id},
        {"ack_code", a->ack_code},
        {"time", hm},
        {"date", when},
    };
    return tmpl_render(r->sms_template, fields, sizeof fields / sizeof fields[0], out, len);
}

char *notify_webhook_body(const struct notify_msg *n)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;
    if (!o)
        return NULL;
    if (jsonu_add_int(o, "id", n->id) &&
        jsonu_add_int(o, "alert", n->alert_id) &&
        cJSON_AddStringToObject(o, "elder", n->elder_id) &&
        cJSON_AddStringToObject(o, "rule", n->rule) &&
        cJSON_AddStringToObject(o, "severity", rule_severity_name(n->severity)) &&
        cJSON_AddStringToObject(o, "to", n->to) &&
        cJSON_AddStringToObject(o, "channel", notify_channel_name(n->channel)) &&
        cJSON_AddStringToObject(o, "text", n->text ? n->text : "") &&
        cJSON_AddStringToObject(o, "ack_code", n->ack_code) &&
        jsonu_add_int(o, "event_ts", n->event_ts_ms))
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

const char *notify_channel_name(enum notify_channel c)
{
    return c == NOTIFY_VOICE ? "voice" : "sms";
}
