/*
 * igtl_source_opts.c - what the OpenIGTLink client is told: defaults, the
 * "igtl.source" config object, host resolution, and the check that refuses a
 * client that would connect to CryoNav's own server.
 *
 * Why the self check exists: CryoNav's server and PlusServer / Slicer all default
 * to port 18944. A client pointed at our own listen address connects, receives
 * our own analysed frames (never an image it can use) and the session shows
 * nothing, with no message. Whether two addresses reach the same socket is
 * decided the way the kernel decides it: same port, and the same IPv4 address
 * after resolution ("localhost" and "127.1" are 127.0.0.1), or a server bound
 * to the wildcard 0.0.0.0 and a target that is any address of this machine
 * (127/8 or an interface address). A server bound to 127.0.0.1 does not receive
 * connections made to 127.0.0.2, so that pair is allowed.
 */
#include "igtl/igtl_source.h"
#include "igtl_source_internal.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

void cn_igtl_source_opts_default(cn_igtl_source_opts *o)
{
    memset(o, 0, sizeof *o);
    cn_strlcpy(o->host, "127.0.0.1", sizeof o->host);
    /* Not 18944: that is CryoNav's own server (and Slicer's default), so a
     * PlusServer feeding CryoNav listens on the next port. */
    o->port = CN_IGTL_SOURCE_DEFAULT_PORT;
    o->request_v2 = true;
    o->pass_unmapped = true;
    o->hold_ns = 200000000;
    o->resolution_ms = 20;
    o->backoff_min_ns = 100000000;
    o->backoff_max_ns = 1000000000; /* a restarted server is back within a second */
    o->no_image_warn_ns = 3000000000;
    cn_igtl_limits_default(&o->limits);
}

static int read_map(cn_igtl_source_opts *o, const cn_json *doc, char *err, size_t err_len)
{
    /* "map": {"DeviceName": "AToB"}: walked with jansson's iterator through the
     * raw handle, each value read back through the typed getter for messages. */
    void *raw = cn_json_raw(doc, "igtl.source.map");
    if (!raw)
        return CN_OK;
    if (!json_is_object((json_t *)raw)) {
        cn_json_error(doc, "igtl.source.map", err, err_len,
                      "expected an object {\"DeviceName\": \"AToB\", ...}");
        return CN_EINVAL;
    }
    o->n_map = 0;
    for (void *it = json_object_iter(raw); it; it = json_object_iter_next(raw, it)) {
        const char *k = json_object_iter_key(it);
        char path[160], val[CN_XFORM_NAME_MAX], a[CN_FRAME_NAME_MAX], b[CN_FRAME_NAME_MAX];
        if (strlen(k) >= CN_XFORM_NAME_MAX || strchr(k, '.') || strchr(k, '[')) {
            cn_json_error(doc, "igtl.source.map", err, err_len,
                          "device name \"%.40s\" is too long or contains '.' or '['", k);
            return CN_EINVAL;
        }
        snprintf(path, sizeof path, "igtl.source.map.%s", k);
        int r = cn_json_get_string(doc, path, val, sizeof val, err, err_len);
        if (r != CN_OK)
            return r == CN_ENOENT ? CN_EINVAL : r;
        if (cn_xform_name_split(val, a, b) != CN_OK) {
            cn_json_error(doc, path, err, err_len,
                          "\"%s\" is not a transform name of the form AToB", val);
            return CN_EINVAL;
        }
        if (o->n_map == CN_IGTL_MAP_MAX) {
            cn_json_error(doc, "igtl.source.map", err, err_len, "at most %d entries",
                          CN_IGTL_MAP_MAX);
            return CN_EINVAL;
        }
        cn_strlcpy(o->map[o->n_map].device, k, sizeof o->map[0].device);
        cn_strlcpy(o->map[o->n_map].name, val, sizeof o->map[0].name);
        o->n_map++;
    }
    return CN_OK;
}

int cn_igtl_source_opts_from_json(cn_igtl_source_opts *o, const cn_json *doc, char *err,
                                  size_t err_len)
{
    if (!doc || !cn_json_has(doc, "igtl.source"))
        return CN_OK;
    static const char *const keys[] = {"host", "port", "image", "request_v2", "pass_unmapped",
                                       "hold_ms", "request_tdata", "request_qtdata",
                                       "resolution_ms", "map", NULL};
    int r = cn_json_check_keys(doc, "igtl.source", keys, err, err_len);
    if (r != CN_OK)
        return r;
    if ((r = cn_json_get_string(doc, "igtl.source.host", o->host, sizeof o->host, err,
                                err_len)) != CN_OK && r != CN_ENOENT)
        return r;
    if (r == CN_OK && !o->host[0]) {
        cn_json_error(doc, "igtl.source.host", err, err_len,
                      "empty: give the PlusServer's address, e.g. \"127.0.0.1\"");
        return CN_EINVAL;
    }
    long port;
    if ((r = cn_json_get_int(doc, "igtl.source.port", 1, 65535, &port, err, err_len)) == CN_OK)
        o->port = (int)port;
    else if (r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_bool(doc, "igtl.source.image", &o->want_image, err, err_len)) == CN_OK)
        o->image_set = true;
    else if (r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_bool(doc, "igtl.source.request_v2", &o->request_v2, err, err_len)) !=
            CN_OK && r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_bool(doc, "igtl.source.pass_unmapped", &o->pass_unmapped, err,
                              err_len)) != CN_OK && r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_bool(doc, "igtl.source.request_tdata", &o->request_tdata, err,
                              err_len)) != CN_OK && r != CN_ENOENT)
        return r;
    if ((r = cn_json_get_bool(doc, "igtl.source.request_qtdata", &o->request_qtdata, err,
                              err_len)) != CN_OK && r != CN_ENOENT)
        return r;
    long resolution_ms;
    if ((r = cn_json_get_int(doc, "igtl.source.resolution_ms", 0, 60000, &resolution_ms, err,
                             err_len)) == CN_OK)
        o->resolution_ms = (int)resolution_ms;
    else if (r != CN_ENOENT)
        return r;
    long hold_ms;
    if ((r = cn_json_get_int(doc, "igtl.source.hold_ms", 0, 3600000, &hold_ms, err, err_len)) ==
        CN_OK)
        o->hold_ns = hold_ms * 1000000LL;
    else if (r != CN_ENOENT)
        return r;
    return read_map(o, doc, err, err_len);
}

int cn_igtl_resolve_ipv4(const char *host, struct in_addr *out)
{
    if (!host || !host[0] || !out)
        return CN_EINVAL;
    if (inet_pton(AF_INET, host, out) == 1)
        return CN_OK;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return CN_ENOENT;
    *out = ((const struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return CN_OK;
}

/* true when a is one of this machine's IPv4 addresses. */
static bool is_local(struct in_addr a)
{
    if ((ntohl(a.s_addr) >> 24) == 127)
        return true;
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return false;
    bool found = false;
    for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
            ((const struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == a.s_addr)
            found = true;
    freeifaddrs(ifs);
    return found;
}

int cn_igtl_source_check_target(const cn_igtl_source_opts *o, const char *listen_addr,
                                int listen_port, char *err, size_t err_len)
{
    struct in_addr target;
    if (cn_igtl_resolve_ipv4(o->host, &target) != CN_OK) {
        snprintf(err, err_len,
                 "igtl.source.host: \"%s\" is neither an IPv4 address nor a host name that "
                 "resolves to one", o->host);
        return CN_EINVAL;
    }
    if (!listen_addr || listen_port <= 0 || listen_port != o->port)
        return CN_OK;
    const char *la = listen_addr[0] ? listen_addr : "0.0.0.0";
    struct in_addr lis;
    if (cn_igtl_resolve_ipv4(la, &lis) != CN_OK)
        return CN_OK; /* the server will refuse that address itself */
    bool wildcard = lis.s_addr == htonl(INADDR_ANY);
    if (target.s_addr != lis.s_addr && !(wildcard && is_local(target)))
        return CN_OK;
    char t[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &target, t, sizeof t);
    snprintf(err, err_len,
             "igtl.source %s:%d (%s) is CryoNav's own OpenIGTLink server (listening on %s:%d): "
             "the client would connect to itself. Give the PlusServer / Slicer another port and "
             "set igtl.source.port to it (e.g. 18945), or move CryoNav's server with --listen "
             "or igtl.listen",
             o->host, o->port, t, la, listen_port);
    return CN_EINVAL;
}
