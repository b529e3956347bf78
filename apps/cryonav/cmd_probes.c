/* cmd_probes.c - `cryonav probes`: which USB ultrasound probes are attached and, for
 * each, whether CryoNav can stream from it or exactly why not (permissions, a device
 * that only shares the generic FX2 id, missing calibration tables), plus the udev rule
 * a user installs once. Reads the same probe config and session "usb" object as
 * `cryonav run --source usb`, so what it says is what run will find. */
#include "commands.h"

#include "usb/usb.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char *status_word(cn_probe_status s)
{
    switch (s) {
    case CN_PROBE_USABLE: return "usable";
    case CN_PROBE_NO_PERMISSION: return "no permission";
    case CN_PROBE_IDENTIFY_FAILED: return "not a UP20L";
    case CN_PROBE_TABLES_MISSING: return "tables missing";
    default: return "cannot open";
    }
}

static void probes_usage(FILE *out)
{
    fprintf(out,
        "usage: cryonav probes [--config FILE] [--udev-rule]\n"
        "Lists attached USB probes (Healson UP20L, USB id 04b4:8613) and says for each\n"
        "whether it is usable or why not; prints the udev rule a user needs (the .deb\n"
        "installs it as /lib/udev/rules.d/70-cryonav-up20l.rules).\n\n"
        "options:\n"
        "  --config FILE        a session file whose \"usb\" object applies, on top of the\n"
        "                       defaults and ~/.config/cryonav/session.json\n"
        "  --udev-rule          print only the udev rule\n"
        "  -h, --help           this help\n\n"
        "outputs: stdout only. Exit code: 0 when at least one probe is usable, 1 otherwise.\n");
}

int cn_cmd_probes(int argc, char **argv)
{
    enum { O_CONFIG = 256, O_RULE };
    static const struct option opts[] = {{"config", required_argument, 0, O_CONFIG},
                                         {"udev-rule", no_argument, 0, O_RULE},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *session = NULL;
    bool rule_only = false;
    optind = 1;
    opterr = 0;
    int oc;
    while ((oc = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (oc) {
        case 'h': probes_usage(stdout); return 0;
        case O_CONFIG: session = optarg; break;
        case O_RULE: rule_only = true; break;
        case ':': return cn_app_usage_error("probes", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("probes", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cn_app_usage_error("probes", "unexpected argument '%s'", argv[optind]);
    if (rule_only) {
        fputs(cn_up20l_udev_rule(), stdout);
        return 0;
    }
    char err[1024], ppath[1024];
    cn_up20l_config c;
    cn_up20l_config_default(&c);
    cn_app_data_path("config/probes/up20l.json", ppath, sizeof ppath);
    if (cn_up20l_config_load(ppath, &c, err, sizeof err) != CN_OK) {
        fprintf(stderr, "cryonav probes: %s\n", err);
        return 2;
    }
    /* the same layers as `cryonav run` (issue 16) */
    cn_json *s = NULL;
    if (cn_app_config_load(session, NULL, &s, err, sizeof err) != CN_OK ||
        cn_up20l_config_apply_session(&c, s, err, sizeof err) != CN_OK) {
        fprintf(stderr, "cryonav probes: %s\n", err);
        cn_json_free(s);
        return 2;
    }
    cn_json_free(s);
    cn_up20l_config_apply_env(&c);

    cn_usb_probe_info info[8];
    int n = cn_usb_list_probes(&c, info, 8, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "cryonav probes: %s\n", err);
        return 1;
    }
    int usable = 0;
    if (n == 0)
        printf("no USB probe attached (looked for the Healson UP20L, USB id %04x:%04x)\n",
               CN_UP20L_VID, CN_UP20L_PID);
    for (int i = 0; i < n; i++) {
        cn_usb_probe_info *p = &info[i];
        printf("%04x:%04x bus %03d address %03d  %-18s %s\n", p->vid, p->pid, p->bus, p->addr,
               p->model, status_word(p->status));
        printf("    %s\n", p->message);
        usable += p->status == CN_PROBE_USABLE;
    }
    printf("\ntables folder: %s\n", c.tables_dir[0] ? c.tables_dir : "(not configured)");
    bool perm = false;
    for (int i = 0; i < n; i++)
        perm |= info[i].status == CN_PROBE_NO_PERMISSION;
    printf("\n%s udev rule (the package installs it as /lib/udev/rules.d/70-cryonav-up20l.rules;\n"
           "from a source build install it as /etc/udev/rules.d/70-cryonav-up20l.rules, then\n"
           "'sudo udevadm control --reload' and re-plug the probe):\n%s",
           perm ? "You need this" : "The", cn_up20l_udev_rule());
    return usable > 0 ? 0 : 1;
}
