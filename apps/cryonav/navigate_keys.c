/* navigate_keys.c - the operator's keys: what each key in the viewer does, the list `h`
 * shows, and `--keys`, the procedure keys scripted at scene seconds.
 *
 * Apart from navigate.c (the main loop, which calls these) because a key's meaning is one
 * idea and the loop that draws frames another; navigate.c had grown past 700 lines. */
#include "commands.h"
#include "session.h"
#include "guidance/guidance.h" /* cn_procedure_key */
#include "replay/replay.h"
#include "viewer/viewer.h"     /* CN_KEY_* */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Procedure keys in the viewer window (issue 13). When the cryo console is not
 * connected to CryoNav the operator tells it what happens: f freeze start/stop,
 * a active thaw on/off, i needle inserted, p repositioned, w withdrawn. They go to
 * the procedure state (guidance/procedure.c), which the simulator's scripted
 * console also feeds: an extra freeze with f reaches the model on the next frame. */
void cn_app_handle_key(cn_session *s, int key, cn_log *log)
{
    if (cn_session_proctor_key(s, key)) /* x revokes proctors, X unlocks (issue 15); Tab
                                         * selects one proctor, k revokes its account */
        return;
    switch (key) {
    case 'f':
    case 'a':
    case 'i':
    case 'p':
    case 'w':
        if (s->replay) {
            /* a replay shows the session as it was: a key must not rewrite its freezes
             * (before, f in a replay ended the recorded freeze and nothing said the
             * screen no longer showed the session: teaching audit T9) */
            snprintf(s->key_msg, sizeof s->key_msg,
                     "key %c: a replay follows the recording's steps, keys do not change them",
                     key);
            s->key_msg_ns = cn_clock_mono_ns();
            cn_log_info(log, "keys", "%s", s->key_msg);
            return;
        }
        /* the procedure state records the step as an operator's event */
        cn_procedure_key(s->procedure, key);
        cn_log_info(log, "keys", "operator: key %c (%s)", key,
                    key == 'f' ? "freeze start/stop" : key == 'a' ? "active thaw on/off"
                    : key == 'i' ? "needle inserted" : key == 'p' ? "repositioned" : "withdrawn");
        return;
    case 'u':
        /* forget the nerve point (a click, the configuration's, a proctor's): its
         * outline and cross go; automatic mode, when on, looks afresh */
        cn_log_info(log, "keys", "operator: key u (forget the nerve point)");
        cn_session_clear_target(s, CN_EVSRC_OPERATOR);
        return;
    case 'm':
        cn_log_info(log, "keys", "operator: mark");
        cn_session_add_event(s, CN_EVSRC_OPERATOR, "mark"); /* recorded on the next frame */
        return;
    case ' ':
        if (!s->replay)
            return;
        if (cn_replay_at_end(s->replay)) { /* nothing left to play */
            cn_log_info(log, "keys", "replay at the end of the recording: Left, N or 1-9 go back");
            return;
        }
        cn_replay_pause(s->replay, !cn_replay_paused(s->replay));
        cn_log_info(log, "keys", "replay %s", cn_replay_paused(s->replay) ? "paused" : "resumed");
        return;
    case CN_KEY_LEFT:
    case CN_KEY_RIGHT: /* replay: 5 s back / forward */
        if (s->replay)
            cn_replay_skip(s->replay, key == CN_KEY_LEFT ? -5.0 : 5.0);
        return;
    case ',':
    case '.': /* replay: one frame back / forward (stays paused) */
        if (s->replay)
            cn_replay_step(s->replay, key == ',' ? -1 : 1);
        return;
    default:
        cn_session_replay_key(s, key); /* issue 14: chapters (n, N, 1-9) */
        return;
    }
}

/* The app's keys for the list h shows in the viewer (cn_app_handle_key above,
 * cn_session_proctor_key, cn_session_replay_key); a replay adds its own. */
#define NERVE_KEYS "u           forget the nerve point\n"
#define PROCEDURE_KEYS                                                              \
    "f           freeze start / stop (under an ICE alarm: dated by the ice)\n"      \
    "a           active thaw on / off\n"                                            \
    "i p w       needle inserted, repositioned, withdrawn\n"
#define OTHER_KEYS                                                                  \
    "m           a mark in the recording\n"                                         \
    "x X         revoke every proctor and lock logins / unlock\n"                   \
    "Tab k       select a proctor / revoke its account\n"
static const char kLiveKeys[] = NERVE_KEYS PROCEDURE_KEYS OTHER_KEYS;
/* a replay's procedure is the recording's: f a i p w are refused (cn_app_handle_key) */
static const char kReplayKeys[] = NERVE_KEYS OTHER_KEYS
    "space       pause / resume\n"
    "Left Right  5 s back / forward\n"
    ", .         one frame back / forward (paused)\n"
    "n N         next / previous chapter\n"
    "1-9         freeze 1-9\n";

const char *cn_app_key_help(bool replay) { return replay ? kReplayKeys : kLiveKeys; }

/* Scripted procedure keys (--keys "f@175,f@185"): key and scene second. */

int cn_app_parse_keys(const char *spec, void *out_, int max, char *err, size_t err_len)
{
    cn_app_script_key *out = out_;
    int n = 0;
    const char *p = spec;
    while (p && *p) {
        int key = (unsigned char)*p;
        char *end = NULL;
        double t = p[1] == '@' ? strtod(p + 2, &end) : NAN;
        if (!strchr("faipw", key) || p[1] != '@' || !end || end == p + 2 || !(t >= 0 && t < 1e6) ||
            (*end && *end != ',')) {
            snprintf(err, err_len, "--keys: expected KEY@SECONDS[,...] with KEY one of f a i p w "
                                   "and SECONDS the scene time, at '%.20s'", p);
            return -1;
        }
        if (n == max) {
            snprintf(err, err_len, "--keys: at most %d keys", max);
            return -1;
        }
        if (out) {
            out[n].key = key;
            out[n].t_s = t;
        }
        n++;
        p = *end ? end + 1 : end;
    }
    return n;
}
