/*
 * usb_list.c - which probes are attached, and why one is not usable.
 *
 * The UP20L reports the generic Cypress FX2 id, so an id match proves nothing: each
 * candidate is opened, claimed and asked to identify itself, and the owner's tables
 * folder is checked, so `cryonav probes` can say precisely what stands between the
 * user and an image (permissions, another device with the same id, missing tables).
 * A board whose own strings (read by the kernel, no request of ours) name another maker
 * is left alone: opening it detached its driver and sent it our vendor request, and one
 * we had no permission for stopped `auto` as "a UP20L that cannot be used".
 */
#include "usb/usb.h"

#include <stdio.h>
#include <string.h>

const char *cn_up20l_udev_rule(void)
{
    return "# /etc/udev/rules.d/70-cryonav-up20l.rules - Healson UP20L for CryoNav\n"
           "# (04b4:8613 is the generic Cypress FX2 id; CryoNav checks the model itself)\n"
           "SUBSYSTEM==\"usb\", ATTR{idVendor}==\"04b4\", ATTR{idProduct}==\"8613\", "
           "MODE=\"0660\", TAG+=\"uaccess\"\n";
}

int cn_up20l_strings_check(cn_usb_engine *e, int nth, cn_usb_strings *st, char *err,
                           size_t err_len)
{
    cn_usb_strings own;
    if (!st)
        st = &own;
    if (cn_usb_engine_strings_nth(e, nth, st) != CN_OK || !st->manufacturer[0] ||
        strcasestr(st->manufacturer, "healson"))
        return CN_OK;
    snprintf(err, err_len, "bus %03d address %03d says it is '%s'%s%s%s (a UP20L says "
             "'HealSon'): another FX2 board, left alone", st->bus, st->addr, st->manufacturer,
             st->product[0] ? " / '" : "", st->product, st->product[0] ? "'" : "");
    return CN_EUNSUPPORTED;
}

int cn_usb_list_probes(const cn_up20l_config *c, cn_usb_probe_info *out, int max, char *err,
                       size_t err_len)
{
    cn_usb_engine_opts eo = {CN_UP20L_VID, CN_UP20L_PID, 0, NULL};
    cn_usb_engine *e = cn_usb_engine_new(&eo, err, err_len);
    if (!e)
        return CN_ENOMEM;
    int n = cn_usb_engine_count(e);
    if (n < 0) {
        snprintf(err, err_len, "libusb cannot list USB devices");
        cn_usb_engine_free(e);
        return n;
    }
    /* The tables are the same for every probe: check them once. */
    char tables_msg[512] = "";
    cn_up20l_tables *t = NULL;
    int tr = cn_up20l_tables_load(c->tables_dir, &t, tables_msg, sizeof tables_msg);
    cn_up20l_tables_free(t);
    int k = 0;
    for (int i = 0; i < n && k < max; i++, k++) {
        cn_usb_probe_info *p = &out[k];
        memset(p, 0, sizeof *p);
        p->vid = CN_UP20L_VID;
        p->pid = CN_UP20L_PID;
        cn_strlcpy(p->model, "unknown (FX2 id)", sizeof p->model);
        bool denied = false;
        char msg[512];
        cn_usb_strings st; /* one enumeration: the strings the check read */
        if (cn_up20l_strings_check(e, i, &st, msg, sizeof msg) != CN_OK) {
            p->status = CN_PROBE_IDENTIFY_FAILED;
            p->bus = st.bus;
            p->addr = st.addr;
            cn_strlcpy(p->message, msg, sizeof p->message);
            continue;
        }
        int r = cn_usb_engine_open_nth(e, i, &denied, msg, sizeof msg);
        if (r != CN_OK) {
            p->status = denied ? CN_PROBE_NO_PERMISSION : CN_PROBE_OPEN_FAILED;
            cn_strlcpy(p->message, msg, sizeof p->message);
            continue;
        }
        cn_usb_engine_address(e, &p->bus, &p->addr);
        r = cn_up20l_identify(e, msg, sizeof msg);
        cn_usb_engine_close(e);
        if (r != CN_OK) {
            p->status = CN_PROBE_IDENTIFY_FAILED;
            cn_strlcpy(p->message, msg, sizeof p->message);
            continue;
        }
        cn_strlcpy(p->model, "Healson UP20L", sizeof p->model);
        if (tr != CN_OK) {
            p->status = CN_PROBE_TABLES_MISSING;
            cn_strlcpy(p->message, tables_msg, sizeof p->message);
            continue;
        }
        p->status = CN_PROBE_USABLE;
        snprintf(p->message, sizeof p->message, "usable (tables from %.400s)", c->tables_dir);
    }
    cn_usb_engine_free(e);
    return k;
}
