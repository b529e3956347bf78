/*
 * test_procedure.c - the procedure state machine (guidance/procedure.c) on
 * hand-built frames: events from every source, emitted once on the frame where
 * they happen with the names the recorder writes; bad inputs refused with a log
 * line; the plan drives only the timer, the reminders and the summary; console
 * messages parsed (and unknown ones refused); the simulator's truth edges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "guidance/guidance.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cn_frame_pool *pool;
static int64_t t_ns;
static char logbuf[16384];
static FILE *logf_;
static cn_log *lg;

static int setup(void **st)
{
    (void)st;
    pool = cn_frame_pool_new(2, 8, 8);
    t_ns = 100000000000LL;
    memset(logbuf, 0, sizeof logbuf);
    logf_ = fmemopen(logbuf, sizeof logbuf - 1, "w");
    setvbuf(logf_, NULL, _IONBF, 0);
    lg = cn_log_new(logf_, CN_LOG_INFO);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    cn_log_free(lg);
    fclose(logf_);
    cn_frame_pool_free(pool);
    return 0;
}

/* One frame dt_s after the previous, processed; events joined into ev. */
static cn_frame *step(cn_procedure *p, double dt_s, char *ev, size_t len)
{
    t_ns += (int64_t)llround(dt_s * 1e9);
    cn_frame *f = cn_frame_pool_acquire(pool);
    assert_non_null(f);
    f->t_acq_ns = t_ns;
    f->t_scene_ns = t_ns;
    assert_int_equal(cn_procedure_process(p, f), CN_OK);
    if (ev) {
        ev[0] = 0;
        for (int i = 0; i < f->analysis.n_events; i++) {
            size_t u = strlen(ev);
            snprintf(ev + u, len - u, "%s%s/%s", i ? "; " : "", f->analysis.events[i].text,
                     cn_event_source_name(f->analysis.events[i].source));
        }
    }
    return f;
}

static void step_expect(cn_procedure *p, double dt_s, const char *want, cn_phase phase, int cycle)
{
    char ev[1024];
    cn_frame *f = step(p, dt_s, ev, sizeof ev);
    if (strcmp(ev, want) != 0)
        fail_msg("events '%s', expected '%s'", ev, want);
    assert_int_equal(f->analysis.guidance.phase, phase);
    assert_int_equal(f->analysis.guidance.cycle, cycle);
    cn_frame_unref(f);
}

/* --keys f@T: T counts from the session's first frame. A live probe's scene clock is
 * the monotonic clock (here 100 s at the first frame): before, every scripted key was
 * due at once and all fired on the first frame. */
static void test_scripted_keys_from_first_frame(void **st)
{
    (void)st;
    cn_procedure *p = cn_procedure_new(NULL, lg);
    assert_non_null(p);
    assert_int_equal(cn_procedure_schedule_key(p, 'i', 1.0), CN_OK);
    assert_int_equal(cn_procedure_schedule_key(p, 'f', 2.0), CN_OK);
    step_expect(p, 0.05, "", CN_PHASE_IDLE, 0);
    step_expect(p, 0.5, "", CN_PHASE_IDLE, 0);
    step_expect(p, 0.5, "needle_inserted/operator", CN_PHASE_APPROACH, 0);
    step_expect(p, 0.5, "", CN_PHASE_APPROACH, 0);
    step_expect(p, 0.5, "freeze_start cycle=1/operator", CN_PHASE_FREEZE, 1);
    cn_procedure_free(p);
}

static void test_operator_session(void **st)
{
    (void)st;
    cn_procedure *p = cn_procedure_new(NULL, lg);
    assert_non_null(p);
    step_expect(p, 0.05, "", CN_PHASE_IDLE, 0);
    assert_true(cn_procedure_key(p, 'i'));
    step_expect(p, 0.05, "needle_inserted/operator", CN_PHASE_APPROACH, 0);
    assert_true(cn_procedure_key(p, 'f'));
    step_expect(p, 0.05, "freeze_start cycle=1/operator", CN_PHASE_FREEZE, 1);
    step_expect(p, 0.05, "", CN_PHASE_FREEZE, 1); /* once, on the frame where it happened */
    /* the phase timer runs on the scene clock */
    cn_frame *f = step(p, 10, NULL, 0);
    assert_true(fabs(f->analysis.guidance.phase_elapsed_s - 10.05) < 1e-6);
    cn_frame_unref(f);
    assert_true(cn_procedure_key(p, 'f'));
    step_expect(p, 0.05, "freeze_end cycle=1/operator; thaw_start cycle=1 mode=passive/operator",
                CN_PHASE_THAW, 1);
    assert_true(cn_procedure_key(p, 'a'));
    f = step(p, 0.05, NULL, 0);
    assert_true(f->analysis.guidance.active_thaw);
    assert_int_equal(f->analysis.n_events, 2);
    assert_string_equal(f->analysis.events[0].text, "thaw_end cycle=1");
    assert_string_equal(f->analysis.events[1].text, "thaw_start cycle=1 mode=active");
    cn_frame_unref(f);
    assert_true(cn_procedure_key(p, 'f'));
    step_expect(p, 0.05, "thaw_end cycle=1/operator; freeze_start cycle=2/operator", CN_PHASE_FREEZE, 2);
    assert_true(cn_procedure_key(p, 'f'));
    assert_true(cn_procedure_key(p, 'p'));
    step_expect(p, 0.05,
                "freeze_end cycle=2/operator; thaw_start cycle=2 mode=passive/operator; "
                "thaw_end cycle=2/operator; reposition/operator",
                CN_PHASE_APPROACH, 2);
    assert_true(cn_procedure_key(p, 'w'));
    step_expect(p, 0.05, "needle_withdrawn/operator", CN_PHASE_WITHDRAWN, 2);
    assert_false(cn_procedure_key(p, 'x')); /* not a procedure key */
    cn_procedure_summary s;
    cn_procedure_get_summary(p, &s);
    assert_int_equal(s.n_steps, 5); /* freeze, thaw (passive then active), freeze, thaw */
    assert_int_equal(s.repositions, 1);
    assert_int_equal(s.refused, 0);
    char text[512];
    cn_procedure_summary_text(&s, text, sizeof text);
    print_message("  %s\n", text);
    assert_non_null(strstr(text, "freeze 2"));
    assert_non_null(strstr(text, "repositioned 1x"));
    cn_procedure_free(p);
}

static void test_bad_inputs_refused(void **st)
{
    (void)st;
    cn_procedure *p = cn_procedure_new(NULL, lg);
    logbuf[0] = 0;
    rewind(logf_);
    /* stop without start */
    cn_procedure_post(p, CN_EVSRC_CONSOLE, CN_PROC_FREEZE_STOP, false);
    step_expect(p, 0.05, "", CN_PHASE_IDLE, 0);
    assert_non_null(strstr(logbuf, "freeze_stop from the console refused: no freeze is running"));
    /* a freeze with no needle_inserted: taken as inserted */
    cn_procedure_post(p, CN_EVSRC_PROCTOR, CN_PROC_FREEZE_START, false);
    step_expect(p, 0.05, "needle_inserted inferred=freeze/proctor; freeze_start cycle=1/proctor",
                CN_PHASE_FREEZE, 1);
    /* a second start while freezing, a reposition of a frozen probe */
    cn_procedure_post(p, CN_EVSRC_CONSOLE, CN_PROC_FREEZE_START, false);
    cn_procedure_post(p, CN_EVSRC_OPERATOR, CN_PROC_REPOSITION, false);
    step_expect(p, 0.05, "", CN_PHASE_FREEZE, 1);
    assert_non_null(strstr(logbuf, "freeze_start from the console refused: a freeze is already running"));
    assert_non_null(strstr(logbuf, "reposition from the operator refused: the probe is frozen"));
    /* withdrawn while freezing ends the freeze; a freeze during withdrawal is refused */
    cn_procedure_post(p, CN_EVSRC_OPERATOR, CN_PROC_NEEDLE_WITHDRAWN, false);
    step_expect(p, 0.05, "freeze_end cycle=1/operator; needle_withdrawn/operator", CN_PHASE_WITHDRAWN, 1);
    cn_procedure_key(p, 'f');
    step_expect(p, 0.05, "", CN_PHASE_WITHDRAWN, 1);
    assert_non_null(strstr(logbuf, "freeze_start from the operator refused: the needle is out"));
    cn_procedure_post(p, CN_EVSRC_OPERATOR, CN_PROC_THAW_STOP, false);
    step_expect(p, 0.05, "", CN_PHASE_WITHDRAWN, 1);
    assert_non_null(strstr(logbuf, "thaw_stop from the operator refused: no thaw is running"));
    cn_procedure_summary s;
    cn_procedure_get_summary(p, &s);
    assert_int_equal(s.refused, 5);
    /* inserted again: a new freeze is fine */
    cn_procedure_key(p, 'i');
    cn_procedure_key(p, 'f');
    step_expect(p, 0.05, "needle_inserted/operator; freeze_start cycle=2/operator", CN_PHASE_FREEZE, 2);
    cn_procedure_free(p);
}

static void test_console_messages(void **st)
{
    (void)st;
    cn_proc_input in;
    bool active = true;
    char err[512];
    assert_int_equal(cn_procedure_parse("  Freeze_Start \n", &in, &active, err, sizeof err), CN_OK);
    assert_int_equal(in, CN_PROC_FREEZE_START);
    assert_false(active);
    assert_int_equal(cn_procedure_parse("thaw_start mode=active", &in, &active, err, sizeof err), CN_OK);
    assert_int_equal(in, CN_PROC_THAW_START);
    assert_true(active);
    assert_int_equal(cn_procedure_parse("thaw_start", &in, &active, err, sizeof err), CN_OK);
    assert_false(active);
    assert_int_equal(cn_procedure_parse("freeze_end", &in, NULL, err, sizeof err), CN_OK);
    assert_int_equal(in, CN_PROC_FREEZE_STOP);
    assert_int_equal(cn_procedure_parse("thaw_start mode=warm", &in, NULL, err, sizeof err), CN_EPARSE);
    assert_non_null(strstr(err, "mode=passive or mode=active"));
    assert_int_equal(cn_procedure_parse("freeze_start now", &in, NULL, err, sizeof err), CN_EPARSE);
    assert_int_equal(cn_procedure_parse("defrost\x1b[2J", &in, NULL, err, sizeof err), CN_EPARSE);
    assert_non_null(strstr(err, "unknown message 'defrost?[2J'"));
    assert_non_null(strstr(err, "known: freeze_start"));
    char longmsg[300];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = 0;
    assert_int_equal(cn_procedure_parse(longmsg, &in, NULL, err, sizeof err), CN_EPARSE);
    assert_non_null(strstr(err, "too long"));
    /* through the procedure: queued with the console as source; unknown logged */
    cn_procedure *p = cn_procedure_new(NULL, lg);
    rewind(logf_);
    logbuf[0] = 0;
    assert_int_equal(cn_procedure_console(p, CN_EVSRC_CONSOLE, "needle_inserted", err, sizeof err), CN_OK);
    assert_int_equal(cn_procedure_console(p, CN_EVSRC_CONSOLE, "freeze_start", err, sizeof err), CN_OK);
    assert_int_equal(cn_procedure_console(p, CN_EVSRC_CONSOLE, "warp", err, sizeof err), CN_EPARSE);
    assert_non_null(strstr(logbuf, "unknown message 'warp'"));
    step_expect(p, 0.05, "needle_inserted/console; freeze_start cycle=1/console", CN_PHASE_FREEZE, 1);
    assert_int_equal(cn_procedure_console(p, CN_EVSRC_CONSOLE, "thaw_start mode=active", err, sizeof err), CN_OK);
    step_expect(p, 0.05, "freeze_end cycle=1/console; thaw_start cycle=1 mode=active/console", CN_PHASE_THAW, 1);
    cn_procedure_free(p);
}

static void test_plan_timer_reminders(void **st)
{
    (void)st;
    cn_plan plan = {.name = "stump-6-4-6", .n_steps = 3,
                    .steps = {{0, 360}, {1, 240}, {0, 360}}};
    cn_procedure *p = cn_procedure_new(&plan, lg);
    char ev[1024];
    cn_frame *f = step(p, 0.05, ev, sizeof ev);
    assert_string_equal(ev, "plan name=stump-6-4-6 steps=freeze:360,passive_thaw:240,freeze:360/plan");
    cn_frame_unref(f);
    cn_procedure_key(p, 'f');
    f = step(p, 0.05, NULL, 0);
    assert_true(fabs(f->analysis.guidance.phase_planned_s - 360) < 1e-9);
    cn_frame_unref(f);
    step_expect(p, 359, "", CN_PHASE_FREEZE, 1);
    step_expect(p, 1, "reminder what=stop_freeze cycle=1 planned_s=360/plan", CN_PHASE_FREEZE, 1);
    step_expect(p, 1, "", CN_PHASE_FREEZE, 1); /* once */
    /* the freeze goes on past the plan: the model follows what happens, the
     * timer keeps counting */
    f = step(p, 60, NULL, 0);
    assert_int_equal(f->analysis.guidance.phase, CN_PHASE_FREEZE);
    assert_true(f->analysis.guidance.phase_elapsed_s > 420);
    cn_frame_unref(f);
    cn_procedure_key(p, 'f');
    f = step(p, 0.05, NULL, 0);
    assert_true(fabs(f->analysis.guidance.phase_planned_s - 240) < 1e-9);
    cn_frame_unref(f);
    step_expect(p, 240, "reminder what=start_freeze cycle=2 planned_thaw_s=240/plan", CN_PHASE_THAW, 1);
    cn_procedure_key(p, 'f');
    step_expect(p, 10, "thaw_end cycle=1/operator; freeze_start cycle=2/operator", CN_PHASE_FREEZE, 2);
    /* an unplanned third freeze: no planned duration */
    cn_procedure_key(p, 'f');
    cn_frame_unref(step(p, 1, NULL, 0));
    cn_procedure_key(p, 'f');
    f = step(p, 1, NULL, 0);
    assert_int_equal(f->analysis.guidance.cycle, 3);
    assert_true(isnan(f->analysis.guidance.phase_planned_s));
    cn_frame_unref(f);
    cn_procedure_summary s;
    cn_procedure_get_summary(p, &s);
    char text[512];
    print_message("  %s\n", cn_procedure_summary_text(&s, text, sizeof text));
    assert_non_null(strstr(text, "plan stump-6-4-6: freeze 360 s, thaw 240 s, freeze 360 s"));
    cn_procedure_free(p);
}

/* Replay: the recorded plan event replaces the configured plan before the first
 * frame, round-trips to the same text, and bad or late ones are refused. */
static void test_plan_from_event(void **st)
{
    (void)st;
    cn_plan conf = {.name = "morton-150s", .n_steps = 1, .steps = {{0, 150}}, .extra_freeze_s = 90};
    cn_procedure *p = cn_procedure_new(&conf, lg);
    char err[160];
    const char *bad[] = {"plan name= steps=freeze:1", "reminder what=x", "plan name=a steps=melt:5",
                         "plan name=a steps=freeze:-3", "plan name=a steps=freeze:", NULL};
    for (int i = 0; bad[i]; i++)
        if (cn_procedure_set_plan_from_event(p, bad[i], err, sizeof err) != CN_EPARSE)
            fail_msg("'%s' accepted as a plan", bad[i]);
    /* the extra freeze: carried by the event, else the configured one only for a
     * recording of the configured protocol (one made before the event carried it) */
    const struct {
        const char *text;
        double extra_s;
    } extra[] = {{"plan name=morton-150s steps=freeze:150", 90},
                 {"plan name=custom steps=freeze:150", 0},
                 {"plan name=custom steps=freeze:150 extra_freeze_s=45", 45},
                 {"plan name=morton-150s steps=freeze:150 extra_freeze_s=0", 0}};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        cn_procedure *q = cn_procedure_new(&conf, lg);
        assert_int_equal(cn_procedure_set_plan_from_event(q, extra[i].text, err, sizeof err), CN_OK);
        cn_procedure_summary qs;
        cn_procedure_get_summary(q, &qs);
        if (qs.plan.extra_freeze_s != extra[i].extra_s)
            fail_msg("'%s': extra freeze %g s, wanted %g", extra[i].text, qs.plan.extra_freeze_s,
                     extra[i].extra_s);
        cn_procedure_free(q);
    }
    assert_int_equal(cn_procedure_set_plan_from_event(p, "plan name=a steps=freeze:1 extra_freeze_s=x",
                                                      err, sizeof err),
                     CN_EPARSE);
    assert_non_null(strstr(err, "extra_freeze_s"));
    const char *rec = "plan name=stump-6-4-6 steps=freeze:360,passive_thaw:240,active_thaw:60";
    assert_int_equal(cn_procedure_set_plan_from_event(p, rec, err, sizeof err), CN_OK);
    char ev[1024], want[256];
    cn_frame *f = step(p, 0.05, ev, sizeof ev);
    snprintf(want, sizeof want, "%s/plan", rec);
    assert_string_equal(ev, want);
    cn_frame_unref(f);
    cn_procedure_summary s;
    cn_procedure_get_summary(p, &s);
    assert_int_equal(s.plan.n_steps, 3);
    assert_true(s.plan.extra_freeze_s == 0); /* stump-6-4-6 has none (before: morton's 90) */
    /* once the first frame is analysed the plan is fixed */
    assert_int_equal(cn_procedure_set_plan_from_event(p, "plan name=x steps=freeze:10", err, sizeof err),
                     CN_EINVAL);
    cn_procedure_free(p);
}

/* cn_procedure_rewind (a replay that went back): idle, no cycle, the summary empty
 * but for the plan, which is written again on the next frame; the same inputs then
 * give the same events as the first time (freeze 1, not 3). */
static void test_rewind(void **st)
{
    (void)st;
    cn_plan conf = {.name = "morton-150s", .n_steps = 1, .steps = {{0, 150}}, .extra_freeze_s = 90};
    cn_procedure *p = cn_procedure_new(&conf, lg);
    char ev[1024];
    for (int pass = 0; pass < 2; pass++) {
        cn_frame *f = step(p, 0.05, ev, sizeof ev);
        assert_string_equal(ev, "plan name=morton-150s steps=freeze:150 extra_freeze_s=90/plan");
        cn_frame_unref(f);
        assert_true(cn_procedure_key(p, 'i'));
        step_expect(p, 0.05, "needle_inserted/operator", CN_PHASE_APPROACH, 0);
        assert_true(cn_procedure_key(p, 'f'));
        step_expect(p, 0.05, "freeze_start cycle=1/operator", CN_PHASE_FREEZE, 1);
        assert_true(cn_procedure_key(p, 'f'));
        step_expect(p, 0.05, "freeze_end cycle=1/operator; thaw_start cycle=1 mode=passive/operator",
                    CN_PHASE_THAW, 1);
        cn_procedure_summary s;
        cn_procedure_get_summary(p, &s);
        assert_int_equal(s.n_steps, 2);
        cn_procedure_rewind(p);
        cn_procedure_get_summary(p, &s);
        assert_int_equal(s.phase, CN_PHASE_IDLE);
        assert_int_equal(s.cycle, 0);
        assert_int_equal(s.n_steps, 0);
        assert_true(isnan(s.inserted_s));
        assert_string_equal(s.plan.name, "morton-150s");
        assert_int_equal(s.plan.n_steps, 1);
    }
    cn_procedure_rewind(NULL);
    cn_procedure_free(p);
}

/* A replay's catch-up holds the inputs: what another thread (the operator's keys)
 * posts, and what waited already, is applied after the hold, on the next frame;
 * the holding thread's own posts (the recorded inputs of the frames it analyses)
 * go through meanwhile. Before the hold existed, a key pressed during a catch-up
 * was applied on a frame of the past nobody saw. */
static void *post_freeze_key(void *arg)
{
    cn_procedure_key(arg, 'f');
    return NULL;
}

static void test_hold_inputs(void **st)
{
    (void)st;
    cn_procedure *p = cn_procedure_new(NULL, lg);
    assert_true(cn_procedure_key(p, 'i')); /* waiting before the hold */
    cn_procedure_hold_inputs(p, true);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, post_freeze_key, p), 0);
    pthread_join(th, NULL);
    /* the holding thread's own input goes through; the others wait */
    assert_int_equal(cn_procedure_console(p, CN_EVSRC_CONSOLE, "needle_inserted", NULL, 0), CN_OK);
    step_expect(p, 0.05, "needle_inserted/console", CN_PHASE_APPROACH, 0);
    step_expect(p, 0.05, "", CN_PHASE_APPROACH, 0);
    cn_procedure_hold_inputs(p, false);
    /* in the order they came: the 'i' (refused: the needle is in) and the 'f' */
    step_expect(p, 0.05, "freeze_start cycle=1/operator", CN_PHASE_FREEZE, 1);
    cn_procedure_hold_inputs(NULL, true);
    cn_procedure_free(p);
}

/* A protocol named as a catalogue may name it (spaces, quotes, even "steps="):
 * the plan event the procedure writes reads back to the same name and steps.
 * Failed before: the name went in bare, and "x steps=freeze:1" gave a replay a
 * one-second plan named "x". */
static void test_plan_name_round_trip(void **st)
{
    (void)st;
    const char *names[] = {"Genicular 3 x 2 min", "x steps=freeze:1", "Dr \"K\" \\ plan"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        cn_plan conf = {.n_steps = 2, .steps = {{0, 150}, {1, 60}}, .extra_freeze_s = 90};
        snprintf(conf.name, sizeof conf.name, "%s", names[i]);
        cn_procedure *p = cn_procedure_new(&conf, lg);
        char ev[1024], err[160];
        cn_frame_unref(step(p, 0.05, ev, sizeof ev));
        cn_procedure_free(p);
        print_message("  %s\n", ev);
        char *src = strstr(ev, "/plan"); /* the first event, "text/source" */
        assert_non_null(src);
        *src = 0;
        cn_plan other = {.name = "morton-150s", .n_steps = 1, .steps = {{0, 150}}, .extra_freeze_s = 90};
        cn_procedure *q = cn_procedure_new(&other, lg);
        assert_int_equal(cn_procedure_set_plan_from_event(q, ev, err, sizeof err), CN_OK);
        cn_procedure_summary s;
        cn_procedure_get_summary(q, &s);
        assert_string_equal(s.plan.name, names[i]);
        assert_int_equal(s.plan.n_steps, 2);
        assert_true(s.plan.steps[0].kind == 0 && s.plan.steps[0].duration_s == 150);
        assert_true(s.plan.steps[1].kind == 1 && s.plan.steps[1].duration_s == 60);
        cn_procedure_free(q);
    }
}

static void test_reposition_reminder(void **st)
{
    (void)st;
    cn_plan plan = {.name = "morton-150s", .n_steps = 1, .steps = {{0, 150}}, .extra_freeze_s = 90};
    cn_procedure *p = cn_procedure_new(&plan, lg);
    cn_guidance_config gc;
    cn_guidance_config_default(&gc);
    cn_guidance *g = cn_guidance_new(&gc);
    cn_procedure_attach_guidance(p, g);
    /* a frame with a half-covered target passes through guidance */
    cn_frame *f = step(p, 0.05, NULL, 0);
    f->analysis.nerve.found = true;
    f->analysis.nerve.n = 4;
    cn_pt2 sq[4] = {{0, 0}, {2, 0}, {2, 2}, {0, 2}}, half[4] = {{-1, -1}, {1, -1}, {1, 3}, {-1, 3}};
    memcpy(f->analysis.nerve.pts_mm, sq, sizeof sq);
    f->analysis.n_iso = 1;
    f->analysis.iso[0].temp_c = -20;
    f->analysis.iso[0].n = 4;
    memcpy(f->analysis.iso[0].pts_mm, half, sizeof half);
    assert_int_equal(cn_guidance_process(g, f), CN_OK);
    assert_true(fabs(f->analysis.guidance.coverage - 0.5) < 0.02);
    cn_frame_unref(f);
    cn_procedure_key(p, 'f');
    cn_frame_unref(step(p, 150, NULL, 0));
    cn_procedure_key(p, 'f');
    char ev[1024];
    f = step(p, 0.05, ev, sizeof ev);
    cn_frame_unref(f);
    assert_non_null(strstr(ev, "reminder what=reposition coverage=0.50 extra_freeze_s=90/plan"));
    /* on the status line while it stands (review 41b: only in the log and the recording,
     * while the HUD's coverage went to "--" with the freeze's end) */
    char r[160];
    assert_true(cn_procedure_reminder(p, r, sizeof r));
    print_message("status line: %s\n", r);
    assert_non_null(strstr(r, "PLAN: freeze 1 ended at coverage 50 %: reposition + 90 s freeze"));
    cn_frame_unref(step(p, 10, NULL, 0));
    assert_true(cn_procedure_reminder(p, r, sizeof r)); /* through the thaw */
    cn_procedure_post(p, CN_EVSRC_CONSOLE, CN_PROC_THAW_STOP, false); /* not answered */
    cn_frame_unref(step(p, 0.05, NULL, 0));
    assert_true(cn_procedure_reminder(p, r, sizeof r)); /* (review 42: it went with it) */
    cn_procedure_key(p, 'p');                            /* answered: repositioned */
    cn_frame_unref(step(p, 0.05, NULL, 0));
    assert_false(cn_procedure_reminder(p, r, sizeof r));
    cn_guidance_free(g);
    cn_procedure_free(p);
}

static void set_truth(cn_frame *f, cn_phase ph)
{
    f->truth.valid = true;
    f->truth.phase = ph;
}

static void test_simulator_edges_and_operator(void **st)
{
    (void)st;
    cn_procedure *p = cn_procedure_new(NULL, lg);
    const cn_phase script[] = {CN_PHASE_IDLE, CN_PHASE_APPROACH, CN_PHASE_FREEZE, CN_PHASE_FREEZE,
                               CN_PHASE_THAW, CN_PHASE_THAW, CN_PHASE_FREEZE, CN_PHASE_WITHDRAWN};
    const char *want[] = {"", "needle_inserted/simulator", "freeze_start cycle=1/simulator", "",
                          "freeze_end cycle=1/simulator; thaw_start cycle=1 mode=passive/simulator",
                          /* the operator starts an extra freeze during the scripted thaw */
                          "thaw_end cycle=1/operator; freeze_start cycle=2/operator",
                          /* the script's own start finds a freeze running: refused */
                          "",
                          "freeze_end cycle=2/simulator; needle_withdrawn/simulator"};
    for (size_t i = 0; i < sizeof script / sizeof script[0]; i++) {
        if (i == 5)
            cn_procedure_key(p, 'f');
        t_ns += 1000000000LL;
        cn_frame *f = cn_frame_pool_acquire(pool);
        f->t_scene_ns = t_ns;
        set_truth(f, script[i]);
        cn_procedure_process(p, f);
        char ev[1024] = "";
        for (int k = 0; k < f->analysis.n_events; k++) {
            size_t u = strlen(ev);
            snprintf(ev + u, sizeof ev - u, "%s%s/%s", k ? "; " : "", f->analysis.events[k].text,
                     cn_event_source_name(f->analysis.events[k].source));
        }
        if (strcmp(ev, want[i]) != 0)
            fail_msg("frame %zu: events '%s', expected '%s'", i, ev, want[i]);
        cn_frame_unref(f);
    }
    cn_procedure_summary s;
    cn_procedure_get_summary(p, &s);
    assert_int_equal(s.refused, 1);
    assert_int_equal(s.phase, CN_PHASE_WITHDRAWN);
    cn_procedure_free(p);
}

static void test_queue_bounded(void **st)
{
    (void)st;
    cn_procedure *p = cn_procedure_new(NULL, lg);
    int lost = 0;
    for (int i = 0; i < 100; i++)
        lost += cn_procedure_post(p, CN_EVSRC_PROCTOR, CN_PROC_FREEZE_TOGGLE, false) == CN_ENOMEM;
    assert_int_equal(lost, 36);
    assert_int_equal(cn_procedure_post(p, CN_EVSRC_PROCTOR, (cn_proc_input)99, false), CN_EINVAL);
    /* 64 toggles: 32 freezes, at most CN_EVENTS_MAX events on the frame, the
     * rest logged as lost, nothing overflows */
    cn_frame *f = step(p, 0.05, NULL, 0);
    assert_int_equal(f->analysis.n_events, CN_EVENTS_MAX);
    assert_int_equal(f->analysis.guidance.cycle, 32);
    cn_frame_unref(f);
    cn_procedure_free(p);
}

/* A recording started mid-session carries the steps before it (cn_procedure_history,
 * with their times); a replay gives them back (cn_procedure_post_history) and its
 * first frame is in the session's freeze: cycle 2, begun 3.5 s before, every step
 * written with its own time (what does not fit the frame's 8 rides on the next,
 * its time kept), and the summary is the session's. The simulator's truth on that
 * frame (freeze) is no second freeze_start. */
static void test_history_round_trip(void **st)
{
    (void)st;
    cn_procedure *live = cn_procedure_new(NULL, lg);
    const int64_t t0 = t_ns;
    cn_frame_unref(step(live, 0, NULL, 0));
    cn_procedure_key(live, 'i');
    cn_frame_unref(step(live, 1, NULL, 0));  /* inserted at +1 s */
    cn_procedure_key(live, 'f');
    cn_frame_unref(step(live, 2, NULL, 0));  /* freeze 1 at +3 s */
    cn_procedure_console(live, CN_EVSRC_CONSOLE, "freeze_stop", NULL, 0);
    cn_frame_unref(step(live, 10, NULL, 0)); /* thaw at +13 s */
    cn_procedure_console(live, CN_EVSRC_CONSOLE, "freeze_start", NULL, 0);
    cn_frame_unref(step(live, 5, NULL, 0));  /* freeze 2 at +18 s */
    cn_event hist[64];
    bool started = false;
    int nh = cn_procedure_history(live, hist, 64, &started);
    assert_true(started);
    assert_int_equal(
        nh, 6); /* inserted, freeze_start, freeze_end, thaw_start, thaw_end, freeze_start */
    assert_string_equal(hist[5].text, "freeze_start cycle=2");
    assert_int_equal(hist[5].source, CN_EVSRC_CONSOLE);
    assert_true(hist[5].t_scene_ns == t0 + 18000000000LL);

    cn_procedure *rp = cn_procedure_new(NULL, lg);
    assert_int_equal(cn_procedure_post_history(rp, hist, nh), 4);
    t_ns = t0 + 21500000000LL; /* the recording's first frame */
    cn_frame *f = cn_frame_pool_acquire(pool);
    f->t_acq_ns = f->t_scene_ns = t_ns;
    f->truth.valid = true;
    f->truth.phase = CN_PHASE_FREEZE;
    assert_int_equal(cn_procedure_process(rp, f), CN_OK);
    assert_int_equal(f->analysis.guidance.phase, CN_PHASE_FREEZE);
    assert_int_equal(f->analysis.guidance.cycle, 2);
    assert_float_equal(f->analysis.guidance.phase_elapsed_s, 3.5, 1e-6);
    assert_int_equal(f->analysis.n_events, 6);
    for (int i = 0; i < 6; i++) {
        assert_string_equal(f->analysis.events[i].text, hist[i].text);
        assert_int_equal(f->analysis.events[i].source, hist[i].source);
        assert_true(f->analysis.events[i].t_scene_ns == hist[i].t_scene_ns);
    }
    cn_frame_unref(f);
    cn_procedure_summary sum;
    cn_procedure_get_summary(rp, &sum);
    assert_int_equal(sum.n_steps, 3);
    assert_float_equal(sum.steps[0].start_s, (double)(t0 + 3000000000LL) * 1e-9, 1e-6);
    assert_float_equal(sum.steps[0].duration_s, 10, 1e-6);
    assert_float_equal(sum.steps[1].duration_s, 5, 1e-6);
    assert_float_equal(sum.inserted_s, (double)(t0 + 1000000000LL) * 1e-9, 1e-6);
    assert_int_equal(sum.refused, 0);
    cn_procedure_free(rp);
    cn_procedure_free(live);
}

/* A frame holds 8 events: the ninth a frame's steps make is not lost but written
 * on the next frame with its own time (before, "event lost"). */
static void test_overflow_rides_on(void **st)
{
    (void)st;
    cn_procedure *p = cn_procedure_new(NULL, lg);
    cn_frame_unref(step(p, 0, NULL, 0));
    const int64_t t1 = t_ns + 1000000000LL;
    /* 5 freezes and thaws posted for one frame: 1 + 5 x 2 + 4 = 15 events */
    cn_procedure_post(p, CN_EVSRC_OPERATOR, CN_PROC_NEEDLE_INSERTED, false);
    for (int i = 0; i < 5; i++) {
        cn_procedure_post(p, CN_EVSRC_OPERATOR, CN_PROC_FREEZE_START, false);
        cn_procedure_post(p, CN_EVSRC_OPERATOR, CN_PROC_FREEZE_STOP, false);
    }
    cn_frame *f = step(p, 1, NULL, 0);
    assert_int_equal(f->analysis.n_events, CN_EVENTS_MAX);
    cn_frame_unref(f);
    f = step(p, 1, NULL, 0);
    int total = CN_EVENTS_MAX + f->analysis.n_events;
    assert_true(f->analysis.n_events > 0);
    assert_true(f->analysis.events[0].t_scene_ns == t1); /* its own time, not this frame's */
    cn_frame_unref(f);
    cn_frame_unref(step(p, 1, NULL, 0));
    bool started;
    cn_event h[64];
    assert_int_equal(cn_procedure_history(p, h, 64, &started), 1 + 5 * 3 + 4);
    assert_true(total <= 1 + 5 * 3 + 4);
    assert_null(strstr(logbuf, "lost"));
    cn_procedure_free(p);
}

/* Live audit M1: a live probe's scene clock is the monotonic clock. A key pressed
 * while no frame came (the probe unplugged) was applied at the next frame's time:
 * a freeze stopped at 8.2 s was recorded at 14.2 s. Now it keeps the time it was
 * pressed. A key pressed between two frames that come on time still lands on the
 * next frame (within 250 ms). */
static void test_key_during_outage_keeps_its_time(void **st)
{
    (void)st;
    cn_procedure *p = cn_procedure_new(NULL, lg);
    int64_t now = cn_clock_mono_ns();
    cn_frame *f = cn_frame_pool_acquire(pool);
    f->t_acq_ns = f->t_scene_ns = now - 3000000000LL; /* the last frame before the outage */
    assert_int_equal(cn_procedure_process(p, f), CN_OK);
    cn_frame_unref(f);
    cn_procedure_key(p, 'f');
    const int64_t pressed = cn_clock_mono_ns();
    f = cn_frame_pool_acquire(pool);
    f->t_acq_ns = f->t_scene_ns = pressed + 2000000000LL; /* the probe is back 2 s later */
    assert_int_equal(cn_procedure_process(p, f), CN_OK);
    assert_int_equal(f->analysis.guidance.phase, CN_PHASE_FREEZE);
    assert_true(f->analysis.n_events >= 1);
    const cn_event *e = &f->analysis.events[f->analysis.n_events - 1];
    assert_string_equal(e->text, "freeze_start cycle=1");
    assert_true(llabs(e->t_scene_ns - pressed) < 50000000LL);
    assert_float_equal(f->analysis.guidance.phase_elapsed_s, 2.0, 0.06);
    cn_frame_unref(f);
    /* a key between frames on time: the next frame's time */
    cn_procedure_key(p, 'f');
    f = cn_frame_pool_acquire(pool);
    f->t_acq_ns = f->t_scene_ns = cn_clock_mono_ns() + 100000000LL;
    assert_int_equal(cn_procedure_process(p, f), CN_OK);
    assert_true(f->analysis.events[f->analysis.n_events - 1].t_scene_ns == f->t_scene_ns);
    cn_frame_unref(f);
    cn_procedure_free(p);
}

/* Live audit L5: a refused key was one log line; the viewer now shows the last
 * refusal for 4 s (navigate.c asks cn_procedure_last_refusal). */
/* Thermal review F1: a freeze stop was keyed while the console froze on; the image showed
 * the ice growing (ICE GROWING IN THAW) and the operator pressed f. Before, that started
 * freeze 2 (the record showed two freezes for one, and the model, which had thawed since
 * the stop, stayed 2.2 mm behind the ice). Now f there takes the stop back: one event,
 * "freeze_resume cycle=1", the freeze's timer from its own start, the thaw gone from the
 * summary. Without the alarm f starts a new freeze as before; the console's freeze_resume
 * is refused but right after a passive thaw. */
static void guided_frame(cn_procedure *p, cn_guidance *g, double dt_s, bool grows)
{
    cn_frame *f = step(p, dt_s, NULL, 0);
    f->analysis.thermal.ice_grows_in_thaw = grows;
    f->analysis.thermal.ice_depth_mm = INFINITY;
    assert_int_equal(cn_guidance_process(g, f), CN_OK);
    cn_frame_unref(f);
}

static void test_freeze_goes_on(void **st)
{
    (void)st;
    cn_procedure *p = cn_procedure_new(NULL, lg);
    cn_guidance_config c;
    cn_guidance_config_default(&c);
    cn_guidance *g = cn_guidance_new(&c);
    assert_non_null(p);
    assert_non_null(g);
    cn_procedure_attach_guidance(p, g);
    cn_procedure_key(p, 'i');
    cn_procedure_key(p, 'f');
    step_expect(p, 0.05, "needle_inserted/operator; freeze_start cycle=1/operator", CN_PHASE_FREEZE,
                1);
    guided_frame(p, g, 30, false);
    cn_procedure_key(p, 'f');
    step_expect(p, 0.05, "freeze_end cycle=1/operator; thaw_start cycle=1 mode=passive/operator",
                CN_PHASE_THAW, 1);
    guided_frame(p, g, 20, true); /* the image: the ice grows */
    cn_procedure_key(p, 'f');
    char ev[512];
    cn_frame *f = step(p, 0.05, ev, sizeof ev);
    assert_string_equal(ev, "freeze_resume cycle=1/operator");
    assert_int_equal(f->analysis.guidance.phase, CN_PHASE_FREEZE);
    assert_int_equal(f->analysis.guidance.cycle, 1);
    /* the screen says what f did, not what it usually does (review 39b F7) */
    char said[200];
    assert_true(cn_procedure_last_refusal(p, 4000000000LL, said, sizeof said));
    assert_non_null(strstr(said, "f: freeze 1 GOES ON"));
    print_message("  f under ICE GROWING IN THAW: '%s', the freeze's timer at %.2f s\n", ev,
                  f->analysis.guidance.phase_elapsed_s);
    assert_true(fabs(f->analysis.guidance.phase_elapsed_s - 50.10) < 1e-6);
    cn_frame_unref(f);
    cn_procedure_summary s;
    cn_procedure_get_summary(p, &s);
    assert_int_equal(s.n_steps, 1);
    assert_int_equal(s.steps[0].kind, 0);
    assert_true(isnan(s.steps[0].duration_s));
    /* the real stop, then a thaw without the alarm: f is a new freeze */
    cn_procedure_key(p, 'f');
    step_expect(p, 10, "freeze_end cycle=1/operator; thaw_start cycle=1 mode=passive/operator",
                CN_PHASE_THAW, 1);
    guided_frame(p, g, 5, false);
    cn_procedure_key(p, 'f');
    step_expect(p, 0.05, "thaw_end cycle=1/operator; freeze_start cycle=2/operator",
                CN_PHASE_FREEZE, 2);
    cn_procedure_get_summary(p, &s);
    assert_int_equal(s.n_steps, 3);
    assert_true(fabs(s.steps[0].duration_s - 60.10) < 1e-6);
    /* what cannot be taken back: an active thaw, and a thaw after a reposition */
    logbuf[0] = 0;
    rewind(logf_);
    char err[256];
    cn_procedure_key(p, 'a');
    step_expect(p, 5, "freeze_end cycle=2/operator; thaw_start cycle=2 mode=active/operator",
                CN_PHASE_THAW, 2);
    assert_int_equal(cn_procedure_console(p, CN_EVSRC_CONSOLE, "freeze_resume", err, sizeof err),
                     CN_OK);
    step_expect(p, 0.05, "", CN_PHASE_THAW, 2);
    assert_non_null(strstr(logbuf, "freeze_resume from the console refused: only a passive thaw "
                                   "straight after its freeze"));
    cn_procedure_key(p, 'a'); /* back to passive: the thaw was heated meanwhile */
    step_expect(p, 0.05, "thaw_end cycle=2/operator; thaw_start cycle=2 mode=passive/operator",
                CN_PHASE_THAW, 2);
    cn_procedure_console(p, CN_EVSRC_CONSOLE, "FREEZE_RESUME ", err, sizeof err);
    step_expect(p, 0.05, "", CN_PHASE_THAW, 2);
    cn_procedure_get_summary(p, &s);
    assert_int_equal(s.refused, 2);
    cn_procedure_free(p);
    cn_guidance_free(g);
}

/* An f pressed early (at 10 s of a freeze the console runs to 30 s): the console's own stop
 * was refused ("no freeze is running"), the zone thawed from the key while the ice grew,
 * and the record held a 10 s freeze for the 30 s that ran (review 39b F2). The console
 * knows when the gas stops: its stop takes the operator's back, and the freeze ends at the
 * console's time (resumed on that frame, stopped on the next, dated to the console's). A
 * stop the console gives in a thaw it began itself is still refused. */
static void test_console_stop_after_an_early_key(void **st)
{
    (void)st;
    cn_procedure *p = cn_procedure_new(NULL, lg);
    logbuf[0] = 0;
    rewind(logf_);
    cn_procedure_post(p, CN_EVSRC_CONSOLE, CN_PROC_FREEZE_START, false);
    step_expect(p, 0.5, "needle_inserted inferred=freeze/console; freeze_start cycle=1/console",
                CN_PHASE_FREEZE, 1);
    const int64_t t_start = t_ns;
    for (int i = 0; i < 20; i++) /* 10 s */
        step_expect(p, 0.5, "", CN_PHASE_FREEZE, 1);
    cn_procedure_key(p, 'f');
    step_expect(p, 0.5, "freeze_end cycle=1/operator; thaw_start cycle=1 mode=passive/operator",
                CN_PHASE_THAW, 1);
    for (int i = 0; i < 39; i++) /* to 30 s of the freeze */
        step_expect(p, 0.5, "", CN_PHASE_THAW, 1);
    cn_procedure_post(p, CN_EVSRC_CONSOLE, CN_PROC_FREEZE_STOP, false);
    step_expect(p, 0.5, "freeze_resume cycle=1/console", CN_PHASE_FREEZE, 1);
    const int64_t t_console = t_ns;
    assert_non_null(strstr(logbuf, "the console stops freeze 1"));
    step_expect(p, 0.5, "freeze_end cycle=1/console; thaw_start cycle=1 mode=passive/console",
                CN_PHASE_THAW, 1);
    cn_procedure_summary s;
    cn_procedure_get_summary(p, &s);
    assert_int_equal(s.n_steps, 2);
    assert_int_equal(s.steps[0].kind, 0);
    print_message("freeze 1: %.1f s (the console's stop %.1f s after its start)\n",
                  s.steps[0].duration_s, (double)(t_console - t_start) * 1e-9);
    assert_true(fabs(s.steps[0].duration_s - (double)(t_console - t_start) * 1e-9) < 1e-6);
    assert_int_equal(s.refused, 0);
    /* the console's stop again, in its own thaw: refused, as before */
    cn_procedure_post(p, CN_EVSRC_CONSOLE, CN_PROC_FREEZE_STOP, false);
    step_expect(p, 0.5, "", CN_PHASE_THAW, 1);
    assert_non_null(strstr(logbuf, "freeze_stop from the console refused: no freeze is running"));
    /* the procedure's clock for the screen: from the insertion (with the freeze's start) */
    cn_frame *f = step(p, 0.5, NULL, 0);
    print_message("procedure clock %.1f s\n", f->analysis.guidance.procedure_s);
    assert_true(fabs(f->analysis.guidance.procedure_s - (double)(t_ns - t_start) * 1e-9) < 1e-6);
    cn_frame_unref(f);
    cn_procedure_free(p);
}

static void test_last_refusal_for_the_screen(void **st)
{
    (void)st;
    cn_procedure *p = cn_procedure_new(NULL, lg);
    char why[192];
    assert_false(cn_procedure_last_refusal(p, 4000000000LL, why, sizeof why));
    cn_procedure_key(p, 'i');
    cn_frame_unref(step(p, 1, NULL, 0));
    cn_procedure_key(p, 'w');
    cn_frame_unref(step(p, 1, NULL, 0));
    cn_procedure_key(p, 'f'); /* a freeze with the needle out */
    cn_frame_unref(step(p, 1, NULL, 0));
    assert_true(cn_procedure_last_refusal(p, 4000000000LL, why, sizeof why));
    assert_string_equal(why,
                        "freeze_start refused: the needle is out (withdrawn); insert it first");
    assert_false(cn_procedure_last_refusal(p, -1, why, sizeof why)); /* older than asked */
    cn_procedure_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_operator_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scripted_keys_from_first_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_inputs_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_console_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_timer_reminders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_from_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_name_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reposition_reminder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_simulator_edges_and_operator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow_rides_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_during_outage_keeps_its_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_refusal_for_the_screen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_freeze_goes_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_console_stop_after_an_early_key, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
