/*
 * merge.c - the tracking device's poses, merged into an image frame at its time.
 *
 * Consumers (viewer, analysis, OpenIGTLink server, recorder) read three tracker
 * poses from a frame: ProbeToTracker, CryoprobeToTracker, ReferenceToTracker.
 * Trackers name things their own way: PlusServer usually sends every tool
 * relative to the patient reference (ProbeToReference, StylusToReference),
 * Slicer sends whatever its transform nodes are called, a bare tracker sends
 * XToTracker. The transform graph joins all of them: a tool is asked for
 * relative to the Tracker frame, and the graph composes whatever chain of edges
 * exists (inverting edges walked backwards) and interpolates each tracked edge
 * at the frame's acquisition time.
 *
 * The one case the graph cannot answer by itself is a server that never
 * mentions a Tracker frame. Then the Reference is the only common frame and we
 * take it as the tracker (ReferenceToTracker = identity). This is not a guess
 * about geometry: every consumer composes inverse(ReferenceToTracker) * XToTracker,
 * which is then exactly the server's XToReference, so the scene CryoNav shows
 * and re-sends is the PlusServer's Reference scene, unchanged. It is applied only
 * when no tool reaches a Tracker frame; a mixed set (ProbeToTracker plus a
 * CryoprobeToReference with no ReferenceToTracker) cannot be joined, and the
 * unlinked tool is left out and reported (CN_MERGE_UNLINKED) rather than placed
 * in the wrong frame.
 */
#include "registry/registry.h"

#include <string.h>

enum { PROBE, CRYOPROBE, REFERENCE, N_TOOLS };
static const char *const tool_frame[N_TOOLS] = {"Probe", "Cryoprobe", "Reference"};
static const char *const tool_pose[N_TOOLS] = {"ProbeToTracker", "CryoprobeToTracker",
                                               "ReferenceToTracker"};

/* Removes the tracker poses the image device brought: the tracking device owns them. */
static void strip_tracker_poses(cn_frame *f)
{
    int k = 0;
    for (int i = 0; i < f->n_poses; i++) {
        bool tracker = false;
        for (int t = 0; t < N_TOOLS; t++)
            tracker = tracker || strcmp(f->poses[i].name, tool_pose[t]) == 0;
        if (!tracker)
            f->poses[k++] = f->poses[i];
    }
    f->n_poses = k;
}

unsigned cn_device_merge_poses(const cn_xform_graph *g, int64_t t_ns, cn_frame *f)
{
    if (!g || !f)
        return 0;
    unsigned flags = 0;
    cn_mat4 m[N_TOOLS];
    int rc[N_TOOLS];
    bool tracker_known = false;
    for (int t = 0; t < N_TOOLS; t++) {
        rc[t] = cn_xform_graph_get(g, tool_frame[t], "Tracker", t_ns, &m[t]);
        /* CN_EAGAIN: a chain exists but a sample is missing (lost, stale) */
        tracker_known = tracker_known || rc[t] != CN_ENOENT;
    }
    if (!tracker_known) {
        bool any = false;
        for (int t = PROBE; t <= CRYOPROBE; t++) {
            rc[t] = cn_xform_graph_get(g, tool_frame[t], "Reference", t_ns, &m[t]);
            any = any || rc[t] != CN_ENOENT;
        }
        if (any) {
            m[REFERENCE] = cn_mat4_identity();
            rc[REFERENCE] = CN_OK;
            flags |= CN_MERGE_REFERENCE_AS_TRACKER;
        }
    } else {
        cn_mat4 unused;
        for (int t = PROBE; t <= CRYOPROBE; t++)
            if (rc[t] == CN_ENOENT &&
                cn_xform_graph_get(g, tool_frame[t], "Reference", t_ns, &unused) != CN_ENOENT)
                flags |= CN_MERGE_UNLINKED;
    }
    strip_tracker_poses(f);
    for (int t = 0; t < N_TOOLS; t++) {
        if (rc[t] == CN_OK) {
            cn_frame_set_pose(f, tool_pose[t], &m[t], true);
        } else if (rc[t] != CN_ENOENT) {
            cn_mat4 id = cn_mat4_identity();
            cn_frame_set_pose(f, tool_pose[t], &id, false);
            flags |= CN_MERGE_LOST;
        }
    }
    /* The probe calibration: the image device's own wins (it made the image);
     * else whatever the graph knows (a PlusServer's ImageToProbe, or one derived
     * from an IMAGE's ImageToReference and ProbeToReference). */
    cn_mat4 i2p;
    if (!cn_frame_get_pose(f, "ImageToProbe") &&
        cn_xform_graph_get(g, "Image", "Probe", t_ns, &i2p) == CN_OK)
        cn_frame_set_pose(f, "ImageToProbe", &i2p, true);
    return flags;
}
