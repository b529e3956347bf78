/* session_record.h - a recording that can start and stop while the session runs
 * (--record at start, StartRecording / StopRecording from an OpenIGTLink proctor). */
#ifndef CN_APP_SESSION_RECORD_H
#define CN_APP_SESSION_RECORD_H

#include "igtl/igtl.h"
#include "pipeline/pipeline.h"
#include "seqio/seqio.h"

typedef struct cn_rec_switch cn_rec_switch;

/* o: the recorder options (format is chosen from each file name); dir: where
 * remote StartRecording commands put their files. */
cn_rec_switch *cn_rec_switch_new(const cn_recorder_opts *o, const char *dir, cn_log *log);
/* Stops (closing synchronously) and joins background closes. */
void cn_rec_switch_free(cn_rec_switch *sw);
/* The two sinks to add once: raw with cn_pipeline_add_raw_sink, analysed with
 * cn_pipeline_add_sink. */
void cn_rec_switch_sinks(cn_rec_switch *sw, cn_sink *raw, cn_sink *analysed);
/* Starts recording to path. CN_EAGAIN when already recording, CN_EIO when the file
 * cannot be created (exists already, folder missing ...), message in err. */
int cn_rec_switch_start(cn_rec_switch *sw, const char *path, char *err, size_t err_len);
/* state (any thread; may be NULL) gives the events a recording started while the
 * session runs begins with (the session's state, cn_session_state_events): 0
 * before the session's first frame. */
void cn_rec_switch_set_state(cn_rec_switch *sw, int (*state)(void *user, cn_event *out, int max),
                             void *user);
/* A live source's recording holds one pass: a frame whose scene time goes back (the
 * windowed simulator's scenario starting again) ends it, closed in the background.
 * Off by default (a replay re-recorded across a seek back keeps its passes). */
void cn_rec_switch_set_one_pass(cn_rec_switch *sw, bool one_pass);
/* Stops the active recording; in_background closes it on a thread of its own.
 * CN_ENOENT when not recording. path_out gets the file name. */
int cn_rec_switch_stop(cn_rec_switch *sw, bool in_background, char *path_out, size_t path_len);
bool cn_rec_switch_active(cn_rec_switch *sw, char *path, size_t len);
/* What the HUD must show about the active recording (issue 14): true and a line
 * ("RECORDING FAILING (No space left on device): 57 frames lost") when frames
 * were lost, false when all is well or nothing records. Notes are procedure
 * events now: cn_session_add_note. */
bool cn_rec_switch_status(cn_rec_switch *sw, char *line, size_t len);
/* Stops the active recording (closing it here) and waits for background closes;
 * CN_EIO when any recording of the session lost frames or could not be written
 * (the process then exits non-zero). */
int cn_rec_switch_finish(cn_rec_switch *sw);
/* Registers StartRecording (attribute OutputFilename: a plain file name, put in
 * the recordings folder; default cryonav-<UTC time>.igs.mha) and StopRecording. */
void cn_rec_switch_register_igtl(cn_rec_switch *sw, cn_igtl_server *srv);

#endif
