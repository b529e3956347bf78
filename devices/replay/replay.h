/*
 * replay.h - a recorded sequence file as a live source (cn_device).
 *
 * Frames come out at the recorded timing divided by a speed factor, with pause,
 * seek and loop, read one at a time from the file (seqio's streaming reader), so a
 * multi-gigabyte recording replays in constant memory. Replayed frames carry the
 * recorded scene-time *deltas* in t_acq_ns (anchored on the monotonic clock when
 * replay starts, resumes, seeks or loops), whatever the speed: analysis that
 * depends on elapsed time (ice growth, phase durations) sees the original
 * procedure's timing and gives the original results. At speed 1 a recording made
 * in real time has t_acq_ns equal to the emission time, so latency figures stay
 * meaningful; at other speeds, or for a recording made at --time-scale, not.
 * seq counts emitted frames (always increasing, across seeks and loops).
 *
 * Clocks: frames are paced by the recorded wall clock (CryoNavWallNs) when the
 * file names it, else by Timestamp, so a recording made at --time-scale 10 replays
 * at the pace the operator saw; each frame carries its recorded scene time in
 * t_scene_ns (Timestamp), which is what timers and the thermal model run on.
 *
 * Teaching: the recorded events come back (cn_replay_take_events: the session
 * applies the operator's and proctor's inputs - the target, notes, freeze keys -
 * as they happened) and the events are chapters to jump between ("freeze 2").
 */
#ifndef CN_REPLAY_H
#define CN_REPLAY_H

#include "core/core.h"
#include "pipeline/pipeline.h"
#include "seqio/seqio.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    double speed;        /* 1 = as recorded (default), 2 = twice as fast, 0 = no pacing */
    bool loop;           /* start again at the end */
    /* without loop: at the end, pause on the last frame shown instead of ending
     * (a windowed replay: the teacher's picture stays, the keys can go back) */
    bool hold_at_end;
    int start_frame;
    bool keep_analysis;  /* deliver the recorded analysis (f->analysed) instead of clearing it */
    double spacing_mm[2];/* for files whose transforms give none (PLUS without ImageToProbe) */
    cn_log *log;
} cn_replay_opts;

typedef struct cn_replay cn_replay;

/* Opens the file and checks it can be replayed (uint8 images). */
cn_replay *cn_replay_new(const char *path, const cn_replay_opts *o, char *err, size_t err_len);
void cn_replay_free(cn_replay *rp);
const cn_seq_info *cn_replay_info(const cn_replay *rp);
/* The device view of rp (rp stays owned by the caller). */
void cn_replay_device(cn_replay *rp, cn_device *out);

/* Convenience like the simulator's: opens and fills out (out->self is the
 * cn_replay); release with cn_replay_device_release after the pipeline stopped. */
int cn_replay_device_make(const char *path, const cn_replay_opts *o, cn_device *out, char *err,
                          size_t err_len);
void cn_replay_device_release(cn_device *dev);
cn_replay *cn_replay_from_device(const cn_device *dev);

/* The pixel spacing for files whose transforms give none (see
 * cn_seq_reader_set_default_spacing); before the pipeline starts. */
void cn_replay_set_default_spacing(cn_replay *rp, double sx_mm, double sy_mm);

/* Controls, callable from any thread while the pipeline runs. */
void cn_replay_pause(cn_replay *rp, bool paused);
/* Held: no frame is emitted (a paused replay's steps wait too) until the hold
 * ends, and the pace then starts again from the next frame. The session holds the
 * replay while it catches up a jump (session_catchup.c): before, the device played
 * on meanwhile, the analysis skipped every frame it emitted, and a replay that
 * caught up 2 s landed and then went on from 2 s of recorded pace later. A hold
 * is not a pause: the operator's pause stays as it was. */
void cn_replay_hold(cn_replay *rp, bool hold);
bool cn_replay_paused(cn_replay *rp);
int cn_replay_seek(cn_replay *rp, int frame);       /* next frame to emit */
/* Moves by whole frames from the last one shown (clamped to the file); when
 * paused, that one frame is shown at once and the replay stays paused (frame by
 * frame for teaching). Returns the frame index it goes to. */
int cn_replay_step(cn_replay *rp, int frames);
/* Jumps by recorded time (seconds, negative = back), clamped to the file; when
 * paused, the frame there is shown at once. Several calls add up. */
void cn_replay_skip(cn_replay *rp, double dt_s);
void cn_replay_set_speed(cn_replay *rp, double speed);
void cn_replay_set_loop(cn_replay *rp, bool loop);
int cn_replay_position(cn_replay *rp);              /* index of the last emitted frame */
/* Held at the recording's end (hold_at_end): every frame was shown and the replay
 * waits, paused, for a key that goes back or for the session to close. */
bool cn_replay_at_end(cn_replay *rp);
int cn_replay_frame_count(const cn_replay *rp);
uint64_t cn_replay_loops(cn_replay *rp);            /* times it wrapped around */
/* The recorded events of the frames emitted since the last call, in order, with
 * their recorded scene times (up to max; the rest wait for the next call). Called
 * by the analysis thread; the device thread queues them as it emits frames. */
int cn_replay_take_events(cn_replay *rp, cn_event *out, int max);
/* The same, only those of frames emitted up to upto_seq (cn_frame.seq): the device
 * reads ahead, and a frame's events must not reach the analysis with an earlier
 * frame (a looping replay gave pass 2's target to pass 1's last frame, and the
 * rewind on pass 2's first frame then wiped it: that pass ran without the nerve). */
int cn_replay_take_events_upto(cn_replay *rp, uint64_t upto_seq, cn_event *out, int max);
/* A jump: an emitted frame that did not follow the one emitted before it (a start
 * after the file's first frame, a seek, a chapter, a skip by time, a loop). The
 * events of the frames jumped over never come from the device. The last jump in
 * full (out may be NULL; returns the number of jumps so far): that number, the
 * frame emitted before it (-1: it was the first frame emitted, a --start), the
 * frame it landed on, the seq that frame was emitted with (cn_frame.seq: frame
 * landed + k has seq landed_seq + k until the next jump), and whether
 * cn_replay_step asked for it (a frame step back while paused, which the session
 * does not rewind for). A session catching up what a jump skipped
 * (session_catchup.c) reads the frames itself. */
typedef struct {
    uint64_t jumps;
    int from, landed;
    uint64_t landed_seq;
    bool step;
} cn_replay_jump;
uint64_t cn_replay_last_jump(cn_replay *rp, cn_replay_jump *out);
/* A reader of its own on the replayed file, with the replay's pixel spacing for
 * files that state none (the device's reader is its thread's alone); close it with
 * cn_seq_reader_close. NULL with err filled when the file cannot be opened again. */
cn_seq_reader *cn_replay_reader_open(const cn_replay *rp, char *err, size_t err_len);
/* The recording's chapters (its events in order, cn_seq_chapters), read once at
 * cn_replay_new; *n may be 0. */
const cn_seq_chapter *cn_replay_chapters(const cn_replay *rp, int *n);
/* The recording's length: its last frame's Timestamp minus its first's (NAN when the
 * file keeps none); *t0_s (may be NULL) gets the first. */
double cn_replay_span_s(const cn_replay *rp, double *t0_s);
/* Jumps to the chapter `what` names (see cn_seq_chapter_find: "freeze 2",
 * "needle in", a number); shown at once when paused. The chapter index, or
 * CN_ENOENT. */
int cn_replay_seek_chapter(cn_replay *rp, const char *what);
/* The next (dir > 0) or previous (dir < 0) chapter from the frame last shown;
 * its index, or CN_ENOENT at either end. */
int cn_replay_step_chapter(cn_replay *rp, int dir);
/* Jumps to scene time t_s from the first frame (clamped); shown at once when
 * paused. */
void cn_replay_seek_time(cn_replay *rp, double t_s);

#ifdef __cplusplus
}
#endif
#endif /* CN_REPLAY_H */
