/* session_record.c - recording that can start and stop while the session runs.
 *
 * Pipeline sinks are fixed once the pipeline starts, but a proctor may say
 * StartRecording / StopRecording at any time (PLUS-style OpenIGTLink commands), so
 * the session installs one pair of sinks for good: a switch that forwards every
 * frame to the active recorder, if any. The forwarding takes a mutex that is only
 * contended at the moment a recording starts or stops; the recorder's own sinks
 * never block. Closing a recorder copies its pixel data behind the header (about
 * 1-2 s per GB), so a remote StopRecording closes on a thread of its own and the
 * command is answered at once.
 *
 * A remote command names at most a base file name: the file always goes into the
 * configured recordings folder, so a client on the network cannot make CryoNav
 * write anywhere else. An existing file is never overwritten (the recorder
 * refuses). */
#include "session_record.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_CLOSERS 8

struct cn_rec_switch {
    pthread_mutex_t mu;
    cn_recorder *rec;            /* active recorder, NULL when not recording */
    cn_sink raw, analysed;       /* its sinks */
    char path[1024];
    cn_recorder_opts ropts;
    char dir[512];
    cn_log *log;
    pthread_t closers[MAX_CLOSERS];
    int n_closers;
    int failures;                /* recordings that lost frames or were not assembled */
    /* the session's state a recording started while it runs begins with */
    int (*state)(void *user, cn_event *out, int max);
    void *state_user;
    /* one pass per file (a live source): the scene time of the last frame written,
     * INT64_MIN before the first */
    bool one_pass;
    int64_t last_scene_ns;
};

void cn_rec_switch_set_one_pass(cn_rec_switch *sw, bool one_pass)
{
    pthread_mutex_lock(&sw->mu);
    sw->one_pass = one_pass;
    pthread_mutex_unlock(&sw->mu);
}

void cn_rec_switch_set_state(cn_rec_switch *sw, int (*state)(void *user, cn_event *out, int max),
                             void *user)
{
    sw->state = state;
    sw->state_user = user;
}

static void close_detached(cn_rec_switch *sw, cn_recorder *rec, const char *path,
                           bool in_background);

/* A live source whose scene clock goes back (the windowed simulator starting its
 * scenario again) ends the recording before the frame: a file holds one pass. Before,
 * the passes ran on into one file, whose length then read as the last pass's clock
 * (20.95 s for 100 s of material), its report listed cycles 1, 2, 1 and a replay
 * counted "freeze 3" (teaching audit T8). The raw sink sees the frame first (the
 * analysis sees it later), so the test is here. */
static void sw_raw(void *self, cn_frame *f)
{
    cn_rec_switch *sw = self;
    cn_recorder *ended = NULL; /* detached here, under the lock: no other recording is hit */
    char path[1024];
    pthread_mutex_lock(&sw->mu);
    if (sw->rec && sw->one_pass && f->t_scene_ns != CN_SCENE_TIME_UNSET &&
        sw->last_scene_ns != INT64_MIN && f->t_scene_ns < sw->last_scene_ns - 50000000) {
        ended = sw->rec;
        sw->rec = NULL;
        cn_strlcpy(path, sw->path, sizeof path);
    } else if (sw->rec) {
        sw->raw.consume(sw->raw.self, f);
        if (f->t_scene_ns != CN_SCENE_TIME_UNSET)
            sw->last_scene_ns = f->t_scene_ns;
    }
    pthread_mutex_unlock(&sw->mu);
    if (ended) {
        cn_log_warn(sw->log, "record", "%s ends with the scenario's pass (the scene clock goes "
                    "back: the scenario starts again; a recording holds one pass, and nothing "
                    "more is recorded in this session)", path);
        close_detached(sw, ended, path, true);
    }
}

static void sw_analysed(void *self, cn_frame *f)
{
    cn_rec_switch *sw = self;
    pthread_mutex_lock(&sw->mu);
    if (sw->rec && sw->analysed.consume)
        sw->analysed.consume(sw->analysed.self, f);
    pthread_mutex_unlock(&sw->mu);
}

cn_rec_switch *cn_rec_switch_new(const cn_recorder_opts *o, const char *dir, cn_log *log)
{
    cn_rec_switch *sw = calloc(1, sizeof *sw);
    if (!sw)
        return NULL;
    pthread_mutex_init(&sw->mu, NULL);
    sw->ropts = *o;
    sw->last_scene_ns = INT64_MIN;
    cn_strlcpy(sw->dir, dir && *dir ? dir : ".", sizeof sw->dir);
    sw->log = log;
    return sw;
}

void cn_rec_switch_sinks(cn_rec_switch *sw, cn_sink *raw, cn_sink *analysed)
{
    *raw = (cn_sink){.name = "record", .self = sw, .consume = sw_raw};
    *analysed = (cn_sink){.name = "record-analysis", .self = sw, .consume = sw_analysed};
}

int cn_rec_switch_start(cn_rec_switch *sw, const char *path, char *err, size_t err_len)
{
    pthread_mutex_lock(&sw->mu);
    if (sw->rec) {
        snprintf(err, err_len, "already recording to %s", sw->path);
        pthread_mutex_unlock(&sw->mu);
        return CN_EAGAIN;
    }
    pthread_mutex_unlock(&sw->mu);
    /* Opening happens outside the lock so frames keep flowing meanwhile. */
    cn_recorder_opts ro = sw->ropts;
    size_t l = strlen(path);
    ro.writer.format = (l > 5 && strcmp(path + l - 5, ".nrrd") == 0) ? CN_SEQ_NRRD : CN_SEQ_MHA;
    cn_recorder *rec = cn_recorder_new(path, &ro, err, err_len);
    if (!rec)
        return CN_EIO;
    /* Started while the session runs (a proctor's StartRecording): the file begins
     * with the session's state, or its replay knew no plan, target or freeze count
     * and outlined no nerve. Before the session's first frame there is none: that
     * frame carries it all. (Taken once the recorder exists and before it is
     * installed: a step on the frame at that very moment can be in both.) */
    if (sw->state) {
        cn_event st[64];
        int n = sw->state(sw->state_user, st, 64);
        if (n > 0 && cn_recorder_carry(rec, st, n) == CN_OK)
            cn_log_info(sw->log, "record", "%s starts mid-session: its first frame carries the "
                        "session's state (plan, probe, target and %d events)", path, n);
    }
    pthread_mutex_lock(&sw->mu);
    if (sw->rec) { /* another start won the race */
        pthread_mutex_unlock(&sw->mu);
        char e2[256];
        cn_recorder_close(rec, NULL, e2, sizeof e2); /* no frame: removes its files */
        snprintf(err, err_len, "already recording to %s", sw->path);
        return CN_EAGAIN;
    }
    sw->rec = rec;
    sw->last_scene_ns = INT64_MIN;
    cn_recorder_sinks(rec, &sw->raw, &sw->analysed);
    cn_strlcpy(sw->path, path, sizeof sw->path);
    pthread_mutex_unlock(&sw->mu);
    cn_log_info(sw->log, "record", "recording to %s", path);
    return CN_OK;
}

typedef struct {
    cn_rec_switch *sw;
    cn_recorder *rec;
    char path[1024];
    cn_log *log;
} close_job;

/* Closes a recording and says how it went; a failure (frames lost, the file not
 * assembled) is counted for the session's exit code. */
static void close_and_report(cn_rec_switch *sw, cn_recorder *rec, const char *path, cn_log *log)
{
    char err[2048];
    cn_recorder_stats st;
    int rc = cn_recorder_close(rec, &st, err, sizeof err);
    if (rc == CN_ENOENT) { /* stopped before its first frame: nothing lost, no file */
        cn_log_warn(log, "record", "%s", err);
    } else if (rc != CN_OK) {
        if (strncmp(err, path, strlen(path)) == 0)
            cn_log_error(log, "record", "%s", err); /* it names the file already */
        else
            cn_log_error(log, "record", "%s: %s", path, err);
        pthread_mutex_lock(&sw->mu);
        sw->failures++;
        pthread_mutex_unlock(&sw->mu);
    } else {
        cn_log_info(log, "record", "recorded %llu frames to %s", (unsigned long long)st.written, path);
    }
}

static void *closer_main(void *arg)
{
    close_job *j = arg;
    close_and_report(j->sw, j->rec, j->path, j->log);
    free(j);
    return NULL;
}

/* Detaches the active recorder; NULL when none. */
static cn_recorder *detach(cn_rec_switch *sw, char *path, size_t len)
{
    pthread_mutex_lock(&sw->mu);
    cn_recorder *rec = sw->rec;
    sw->rec = NULL;
    cn_strlcpy(path, sw->path, len);
    pthread_mutex_unlock(&sw->mu);
    return rec;
}

/* Closes a detached recorder, on a thread of its own when asked (the slots of the
 * closers are taken under the mutex: the device thread ends a pass too, sw_raw, besides
 * the commands' and the main thread), else here. */
static void close_detached(cn_rec_switch *sw, cn_recorder *rec, const char *path,
                           bool in_background)
{
    if (in_background) {
        close_job *j = malloc(sizeof *j);
        if (j) {
            j->sw = sw;
            j->rec = rec;
            cn_strlcpy(j->path, path, sizeof j->path);
            j->log = sw->log;
            pthread_mutex_lock(&sw->mu);
            const bool ok = sw->n_closers < MAX_CLOSERS &&
                            pthread_create(&sw->closers[sw->n_closers], NULL, closer_main, j) == 0;
            if (ok)
                sw->n_closers++;
            pthread_mutex_unlock(&sw->mu);
            if (ok)
                return;
            free(j);
        }
    }
    close_and_report(sw, rec, path, sw->log);
}

int cn_rec_switch_stop(cn_rec_switch *sw, bool in_background, char *path_out, size_t path_len)
{
    char path[1024];
    cn_recorder *rec = detach(sw, path, sizeof path);
    if (!rec)
        return CN_ENOENT;
    if (path_out)
        cn_strlcpy(path_out, path, path_len);
    close_detached(sw, rec, path, in_background);
    return CN_OK;
}

bool cn_rec_switch_status(cn_rec_switch *sw, char *line, size_t len)
{
    pthread_mutex_lock(&sw->mu);
    cn_recorder_stats st = {0};
    bool on = sw->rec != NULL;
    if (on)
        cn_recorder_get_stats(sw->rec, &st);
    pthread_mutex_unlock(&sw->mu);
    if (!on || st.dropped == 0)
        return false;
    if (st.failing)
        snprintf(line, len, "RECORDING FAILING (%s): %llu frames lost",
                 st.last_errno ? strerror(st.last_errno) : "writer behind",
                 (unsigned long long)st.dropped);
    else
        snprintf(line, len, "RECORDING INCOMPLETE: %llu frames lost", (unsigned long long)st.dropped);
    return true;
}

/* Joins the background closes (taken from the list under the mutex, joined outside it:
 * a closer takes the mutex to count a failure). */
static void join_closers(cn_rec_switch *sw)
{
    for (;;) {
        pthread_mutex_lock(&sw->mu);
        if (sw->n_closers == 0) {
            pthread_mutex_unlock(&sw->mu);
            return;
        }
        pthread_t t = sw->closers[--sw->n_closers];
        pthread_mutex_unlock(&sw->mu);
        pthread_join(t, NULL);
    }
}

int cn_rec_switch_finish(cn_rec_switch *sw)
{
    if (!sw)
        return CN_OK;
    cn_rec_switch_stop(sw, false, NULL, 0);
    join_closers(sw);
    pthread_mutex_lock(&sw->mu);
    int rc = sw->failures > 0 ? CN_EIO : CN_OK;
    pthread_mutex_unlock(&sw->mu);
    return rc;
}

bool cn_rec_switch_active(cn_rec_switch *sw, char *path, size_t len)
{
    pthread_mutex_lock(&sw->mu);
    bool on = sw->rec != NULL;
    if (on && path)
        cn_strlcpy(path, sw->path, len);
    pthread_mutex_unlock(&sw->mu);
    return on;
}

void cn_rec_switch_free(cn_rec_switch *sw)
{
    if (!sw)
        return;
    cn_rec_switch_stop(sw, false, NULL, 0);
    join_closers(sw);
    pthread_mutex_destroy(&sw->mu);
    free(sw);
}

/* ---- the OpenIGTLink commands ---- */

/* Accepts only a plain file name: letters, digits, '-', '_', '.', no leading dot,
 * no path separator (refused rather than silently stripped, so the client learns
 * that its path was not honoured). */
static bool safe_base_name(const char *in, char *out, size_t len)
{
    if (strlen(in) >= len)
        return false;
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok)
            return false;
        out[n++] = c;
    }
    out[n] = 0;
    return n > 0 && out[0] != '.';
}

static bool cmd_start(void *user, const char *name, const char *xml, char *msg, size_t msg_len)
{
    (void)name;
    cn_rec_switch *sw = user;
    char want[256], base[256], path[1024], err[1024];
    int arc = cn_igtl_xml_attr(xml, "OutputFilename", want, sizeof want);
    if (arc == CN_ENOENT) {
        want[0] = 0; /* no name asked for: one is made up */
    } else if (arc != CN_OK) {
        snprintf(msg, msg_len, "OutputFilename is malformed or too long (%s)", cn_strerror(arc));
        return false;
    }
    if (want[0]) {
        if (!safe_base_name(want, base, sizeof base)) {
            snprintf(msg, msg_len, "OutputFilename '%.100s' is not a plain file name", want);
            return false;
        }
    } else {
        time_t now = time(NULL);
        struct tm tmv;
        gmtime_r(&now, &tmv);
        strftime(base, sizeof base, "cryonav-%Y%m%d-%H%M%S.igs.mha", &tmv);
    }
    size_t bl = strlen(base);
    if (!(bl > 4 && strcmp(base + bl - 4, ".mha") == 0) && !(bl > 5 && strcmp(base + bl - 5, ".nrrd") == 0)) {
        snprintf(msg, msg_len, "OutputFilename must end in .igs.mha or .igs.nrrd");
        return false;
    }
    if (mkdir(sw->dir, 0755) != 0 && errno != EEXIST) {
        snprintf(msg, msg_len, "cannot create the recordings folder %s: %s", sw->dir, strerror(errno));
        return false;
    }
    snprintf(path, sizeof path, "%s/%s", sw->dir, base);
    if (cn_rec_switch_start(sw, path, err, sizeof err) != CN_OK) {
        snprintf(msg, msg_len, "%s", err);
        return false;
    }
    snprintf(msg, msg_len, "recording to %s", path);
    return true;
}

static bool cmd_stop(void *user, const char *name, const char *xml, char *msg, size_t msg_len)
{
    (void)name;
    (void)xml;
    cn_rec_switch *sw = user;
    char path[1024];
    if (cn_rec_switch_stop(sw, true, path, sizeof path) != CN_OK) {
        snprintf(msg, msg_len, "not recording");
        return false;
    }
    snprintf(msg, msg_len, "stopped recording to %s", path);
    return true;
}

void cn_rec_switch_register_igtl(cn_rec_switch *sw, cn_igtl_server *srv)
{
    cn_igtl_server_set_command(srv, "StartRecording", cmd_start, sw);
    cn_igtl_server_set_command(srv, "StopRecording", cmd_stop, sw);
}
