/* cmd_probes.c - `cryonav probes`: which USB ultrasound probes are attached and, for
 * each, whether CryoNav can stream from it or exactly why not (permissions, a device
 * that only shares the generic FX2 id, missing calibration tables), plus the udev rule
 * a user installs once. Reads the same probe config and session "usb" object as
 * `cryonav run --source usb`, so what it says is what run will find. */
#include "commands.h"

#include "usb/usb.h"

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

int cn_cmd_probes(int argc, char **argv)
{
    if (cn_app_wants_help(argc, argv)) {
        printf("usage: cryonav probes [--config SESSION.json] [--udev-rule]\n"
               "Lists attached USB probes (Healson UP20L, USB id 04b4:8613) and says for each\n"
               "whether it is usable or why not; prints the udev rule a user needs.\n"
               "  --config FILE   session file whose \"usb\" object applies (default config/session.json)\n"
               "  --udev-rule     print only the udev rule\n"
               "Exit code: 0 when at least one probe is usable, 1 otherwise.\n");
        return 0;
    }
    const char *session = NULL;
    bool rule_only = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--udev-rule") == 0)
            rule_only = true;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            session = argv[++i];
        else
            return cn_app_usage_error("probes", "unknown option '%s' (see --help)", argv[i]);
    }
    if (rule_only) {
        fputs(cn_up20l_udev_rule(), stdout);
        return 0;
    }
    char err[1024], ppath[1024], spath[1024];
    cn_up20l_config c;
    cn_up20l_config_default(&c);
    cn_app_data_path("config/probes/up20l.json", ppath, sizeof ppath);
    if (cn_up20l_config_load(ppath, &c, err, sizeof err) != CN_OK) {
        fprintf(stderr, "cryonav probes: %s\n", err);
        return 2;
    }
    if (!session)
        session = cn_app_data_path("config/session.json", spath, sizeof spath);
    cn_json *s = cn_json_load(session, err, sizeof err);
    if (!s || cn_up20l_config_apply_session(&c, s, err, sizeof err) != CN_OK) {
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
    printf("\n%s udev rule (install as /etc/udev/rules.d/70-cryonav-up20l.rules, then\n"
           "'sudo udevadm control --reload' and re-plug the probe):\n%s",
           perm ? "You need this" : "The", cn_up20l_udev_rule());
    return usable > 0 ? 0 : 1;
}
