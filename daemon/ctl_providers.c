/* ctl_providers.c - `anxinctl providers`: the configured notification
 * providers, which channel uses them in which order, whether their secret
 * can be read, and the report addresses to enter in each provider's
 * console (Kannel's dlr-url is set per message and needs nothing). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "provider.h"
#include "secret.h"

static void print_channels(const struct cfg *c, size_t i)
{
    int any = 0;
    for (int ch = 0; ch < CFG_CHANNEL_COUNT; ch++)
        for (size_t k = 0; k < c->channel_n[ch]; k++)
            if ((size_t)c->channel_providers[ch][k] == i) {
                printf("%s%s #%zu", any ? ", " : "", cfg_channel_name((enum cfg_channel)ch), k + 1);
                any = 1;
            }
    if (!any)
        printf("(no channel uses it)");
}

/* Where SMS replies go (acknowledging from the phone), for each provider
 * that can pass them on. */
static void print_reply_address(const struct cfg_provider *p, const char *secret)
{
    char key[17];
    const char *base = p->callback ? p->callback : "<this anxind's public address>/hooks/";
    const char *name = p->callback ? "" : p->name;
    if (!secret)
        return;
    prov_report_key(secret, key);
    switch (p->type) {
    case CFG_PROVIDER_KANNEL:
        printf("  SMS replies: get-url = \"%s%s/mo?key=%s&from=%%p&text=%%a\" in Kannel's "
               "sms-service\n", base, name, key);
        break;
    case CFG_PROVIDER_ALIYUN:
        printf("  SMS replies: %s%s/mo?key=%s as the SmsUp address (上行消息, HTTP push)\n", base,
               name, key);
        break;
    case CFG_PROVIDER_TENCENT:
        printf("  SMS replies: %s%s/mo?key=%s as the SMS reply callback (短信回复)\n", base, name,
               key);
        break;
    case CFG_PROVIDER_TWILIO:
        if (p->callback)
            printf("  SMS replies: %s/mo as the number's \"A message comes in\" webhook "
                   "(HTTP POST)\n", p->callback);
        break;
    default:
        break;
    }
}

int ctl_cmd_providers(const struct ctl_opts *o, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: anxinctl providers\n");
        return 2;
    }
    struct cfg_diags diags = {0};
    const char *path = ctl_conf_path(o);
    struct cfg *c = ctl_load_config(path, &diags, stderr);
    if (!c) {
        for (size_t i = 0; i < diags.n; i++) {
            char line[600];
            cfg_diag_format(path, &diags.items[i], line, sizeof line);
            fprintf(stderr, "%s\n", line);
        }
        cfg_diags_free(&diags);
        return 1;
    }
    cfg_diags_free(&diags);
    int problems = 0;
    for (size_t i = 0; i < c->n_providers; i++) {
        const struct cfg_provider *p = &c->providers[i];
        printf("%s (%s): ", p->name, cfg_provider_type_name(p->type));
        print_channels(c, i);
        printf("\n");
        char *secret = NULL, err[300];
        if (secret_resolve(&p->token, &secret, err, sizeof err) != 0) {
            printf("  secret: CANNOT READ: %s\n", err);
            problems++;
            continue;
        }
        if (p->type == CFG_PROVIDER_CONSOLE) {
            printf("  output: %s\n", p->output ? p->output : "standard output");
        } else if (!secret) {
            printf("  secret: none\n");
        } else {
            printf("  secret: readable\n");
        }
        if (p->type == CFG_PROVIDER_ALIYUN || p->type == CFG_PROVIDER_TENCENT) {
            char key[17];
            prov_report_key(secret, key);
            if (p->callback)
                printf("  report address: %s/report?key=%s\n", p->callback, key);
            else
                printf("  report address: <this anxind's public address>/hooks/%s/report?key=%s"
                       "\n  (set callback = the public address of /hooks/%s)\n",
                       p->name, key, p->name);
            printf("  enter it in the %s console for %s\n",
                   p->type == CFG_PROVIDER_ALIYUN ? "Aliyun" : "Tencent Cloud",
                   p->type == CFG_PROVIDER_ALIYUN ? "SmsReport and VoiceReport (HTTP push)"
                                                  : "the SMS status callback (回执)");
        } else if (p->type == CFG_PROVIDER_KANNEL || p->type == CFG_PROVIDER_TWILIO) {
            if (p->callback)
                printf("  reports: sent with each message to %s/%s\n", p->callback,
                       p->type == CFG_PROVIDER_KANNEL ? "dlr" : "status");
            else
                printf("  reports: none (no callback set)%s\n",
                       p->type == CFG_PROVIDER_TWILIO ? "; voice calls need one" : "");
        }
        print_reply_address(p, secret);
        if (secret) {
            memset(secret, 0, strlen(secret));
            free(secret);
        }
    }
    if (!c->n_providers)
        printf("no providers configured: notifications go to standard output\n");
    cfg_free(c);
    return problems ? 1 : 0;
}
