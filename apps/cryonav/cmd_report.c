/* cmd_report.c - `cryonav report FILE`: the session report a clinical study needs.
 *
 * seqio's cn_session_summarize reads the recording frame by frame (fields only)
 * and gives procedure time (skin insertion to withdrawal), freeze/thaw cycles and
 * their durations, maximum ice dimensions, coverage reached and the closest
 * approach of ice to the skin. This command writes it as JSON (also printed) and
 * as a human-readable HTML page with two plots drawn by VTK Charts (modules/plot):
 * ice radius and predicted isotherms vs time, and estimated nerve temperature vs
 * time. Output goes to OUT (default FILE.report/): summary.json, report.html,
 * ice.png, nerve_temp.png. */
#include "commands.h"
#include "guidance/guidance.h" /* the alarms' words */

#include "report_plots.h"
#include "seqio/seqio.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The event lines ("T source: text") in time order: a step dated back (a late key, a
 * freeze inferred from the ice seen) is written on a later frame with its own time, and
 * the page listed it after events that came later (review 41b). Stable: same-time lines
 * keep the recording's order. */
static int by_line_time(const void *a, const void *b)
{
    const char *const *la = a, *const *lb = b;
    double ta = atof(*la), tb = atof(*lb); /* finite: sort_event_lines checked */
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return *la < *lb ? -1 : *la > *lb; /* their place in the text */
}

/* Does every line start with a finite time? (the summary's lines do; anything else is
 * left in the recording's order) */
static bool lines_timed(char *const *lines, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        char *end = NULL;
        double t = strtod(lines[i], &end);
        if (end == lines[i] || !isfinite(t))
            return false;
    }
    return true;
}

static void sort_event_lines(char *text)
{
    size_t n = 0, len = strlen(text);
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    if (n < 2 || text[len - 1] != '\n') /* whole lines only (the summary's always are) */
        return;
    char **lines = malloc(n * sizeof *lines), *copy = malloc(len + 1);
    if (!lines || !copy) {
        free(lines);
        free(copy);
        return; /* the recording's order */
    }
    memcpy(copy, text, len + 1);
    size_t k = 0;
    for (char *q = copy; *q && k < n;) {
        lines[k++] = q;
        char *nl = strchr(q, '\n');
        if (!nl)
            break;
        *nl = 0;
        q = nl + 1;
    }
    if (!lines_timed(lines, k)) {
        free(lines);
        free(copy);
        return;
    }
    qsort(lines, k, sizeof *lines, by_line_time);
    size_t at = 0;
    for (size_t i = 0; i < k; i++)
        at += (size_t)snprintf(text + at, len + 1 - at, "%s\n", lines[i]);
    free(lines);
    free(copy);
}

static void html_escape(FILE *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", o);
        else if (*s == '>') fputs("&gt;", o);
        else if (*s == '&') fputs("&amp;", o);
        else fputc(*s, o);
    }
}

/* a time from the first frame: before it in a recording started mid-session */
static void fmt_t(char *buf, size_t n, double v)
{
    if (isfinite(v)) snprintf(buf, n, "%.1f s%s", v, v < 0 ? " (before the recording)" : "");
    else snprintf(buf, n, "not seen");
}

static void fmt_s(char *buf, size_t n, double v)
{
    if (v >= 0 && isfinite(v)) snprintf(buf, n, "%.1f s", v);
    else snprintf(buf, n, "not seen");
}

int cn_cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"no-plots", no_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    char out[1024] = "";
    bool plots = true;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("usage: cryonav report FILE [--out DIR] [--no-plots]\n"
                   "Summarises a recorded session: procedure time (skin insertion to withdrawal),\n"
                   "freeze/thaw cycles, maximum ice dimensions, coverage, closest approach of ice\n"
                   "to the skin, alarms and the recorded events.\n\n"
                   "options:\n"
                   "  -o, --out DIR        write the report into DIR, created when missing\n"
                   "                       (default FILE.report)\n"
                   "  --no-plots           no plots (no display or Xvfb needed)\n"
                   "  -h, --help           this help\n\n"
                   "outputs: DIR/summary.json (also printed on stdout), DIR/report.html, and\n"
                   "unless --no-plots DIR/ice.png and DIR/nerve_temp.png (when the recording has\n"
                   "ice / nerve temperatures); the files written are named on stderr.\n");
            return 0;
        case 'o': cn_strlcpy(out, optarg, sizeof out); break;
        case 'p': plots = false; break;
        case ':': return cn_app_usage_error("report", "option '%s' needs a value", argv[optind - 1]);
        default: return cn_app_usage_error("report", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cn_app_usage_error("report", "needs exactly one FILE (see --help)");
    const char *file = argv[optind];
    if (!out[0])
        snprintf(out, sizeof out, "%s.report", file);
    char err[1024];
    cn_session_summary sum;
    cn_session_series ser;
    char *events = NULL;
    cn_progress *pr = cn_progress_new(stderr, "report", "frames");
    int rc = cn_session_summarize(file, &sum, &ser, &events, pr, err, sizeof err);
    cn_progress_done(pr);
    if (rc) {
        fprintf(stderr, "cryonav report: %s\n", err);
        return 2;
    }
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cryonav report: cannot create %s: %s\n", out, strerror(errno));
        cn_session_series_free(&ser);
        free(events);
        return 1;
    }
    char *json = cn_session_summary_json(&sum, file);
    char path[1200];
    snprintf(path, sizeof path, "%s/summary.json", out);
    char why[1400] = "";
    FILE *jf = cn_file_create(path, why, sizeof why); /* not through a planted link */
    if (!jf || !json) {
        fprintf(stderr, "cryonav report: cannot write %s\n", jf ? path : why);
        if (jf) fclose(jf);
        free(json);
        cn_session_series_free(&ser);
        free(events);
        return 1;
    }
    fprintf(jf, "%s\n", json);
    fclose(jf);
    printf("%s\n", json);
    free(json);
    bool have_ice = false, have_temp = false;
    int exit_code = 0;
    if (plots) {
        void *xhold = NULL;
        if (cn_app_ensure_display(true, &xhold, err, sizeof err) != CN_OK ||
            cn_report_plots(out, &ser, strcmp(sum.phase_source, "truth") == 0, &have_ice,
                            &have_temp, err, sizeof err) != CN_OK) { /* report_plots.c */
            fprintf(stderr, "cryonav report: plots not drawn: %s\n", err);
            exit_code = 1;
        }
        cn_app_display_release(xhold);
    }
    snprintf(path, sizeof path, "%s/report.html", out);
    FILE *h = cn_file_create(path, why, sizeof why);
    if (!h) {
        fprintf(stderr, "cryonav report: cannot write %s\n", why);
        cn_session_series_free(&ser);
        free(events);
        return 1;
    }
    char a[32], b[32], p[32];
    fmt_t(a, sizeof a, sum.insertion_s);
    fmt_t(b, sizeof b, sum.withdrawal_s);
    fmt_s(p, sizeof p, sum.procedure_s);
    fprintf(h, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>CryoNav session report</title>\n");
    cn_report_html_style(h); /* the palette's colours (report_plots.c) */
    fprintf(h, "</head><body>\n<h1>CryoNav session report</h1>\n<p>Recording: <code>");
    html_escape(h, file);
    fprintf(h, "</code> &mdash; %d frames, %.1f s of %s; %s.</p>\n", sum.n_frames, sum.duration_s,
            strcmp(sum.clock, "scene") == 0 ? "scene time" : "recorded time",
            strcmp(sum.phase_source, "analysis") == 0 ? "phases from CryoNav's analysis"
            : strcmp(sum.phase_source, "truth") == 0  ? "phases from the simulator's ground truth"
                                                      : "no phase information in this file");
    const bool analysed = strcmp(sum.phase_source, "none") != 0;
    if (!analysed) /* review 41a: "maximum ice radius 0.0 mm, alarms 0" as if measured */
        fprintf(h, "<p><b>Not analysed:</b> this file holds no CryoNav analysis, so it says "
                   "nothing of the ice, the nerve or the alarms. <code>cryonav replay FILE "
                   "--speed 0 --record NEW</code> analyses every frame; then report NEW.</p>\n");
    /* an insertion nobody keyed, taken from the first freeze: a lower bound, said where it
     * is read (review 41b: only the JSON's insertion_inferred said so) */
    const char *inferred = sum.insertion_inferred ? " (inferred from the first freeze: the "
                                                    "needle went in before)" : "";
    fprintf(h, "<h2>Procedure</h2><table>\n<tr><th>needle inserted</th><td>%s%s</td></tr>\n"
               "<tr><th>needle withdrawn</th><td>%s</td></tr>\n"
               "<tr><th>procedure time (skin to withdrawal)</th><td>%s%s</td></tr>\n", a,
            inferred, b, sum.insertion_inferred ? "at least " : "", p);
    if (analysed && sum.ice_frames > 0)
        fprintf(h, "<tr><th>maximum ice radius</th><td>%.1f mm</td></tr>\n"
                   "<tr><th>maximum ice width x depth</th><td>%.1f x %.1f mm</td></tr>\n",
                sum.max_ice_radius_mm, sum.max_ice_width_mm, sum.max_ice_depth_mm);
    else if (analysed) /* review 41b: a freeze with no zone and no rim read "0.0 mm" */
        fprintf(h, "<tr><th>ice</th><td>no ice seen on any frame</td></tr>\n");
    else
        fprintf(h, "<tr><th>ice, nerve, alarms</th><td>not analysed</td></tr>\n");
    if (sum.max_model_ice_radius_mm >= 0)
        fprintf(h, "<tr><th>maximum 0 C radius of the model</th><td>%.1f mm%s</td></tr>\n",
                sum.max_model_ice_radius_mm,
                sum.rim_lost_frames > 0 ? " (the rim was not found on some freeze frames: the "
                                          "measured size may be short of the ice)" : "");
    if (sum.coverage_max >= 0)
        fprintf(h, "<tr><th>nerve coverage reached (&le; -20 C)</th><td>%.0f %%</td></tr>\n",
                100 * sum.coverage_max);
    if (sum.ice_skin_min_mm >= 0)
        fprintf(h, "<tr><th>closest approach of ice to skin</th><td>%.1f mm</td></tr>\n",
                sum.ice_skin_min_mm);
    if (analysed)
        fprintf(h, "<tr><th>alarms</th><td>%d</td></tr>\n", sum.n_alarms);
    fprintf(h, "</table>\n");
    if (sum.plan[0]) {
        fprintf(h, "<p>plan: ");
        html_escape(h, sum.plan);
        fprintf(h, "</p>\n");
    }
    fprintf(h, "<h2>Freeze cycles</h2><table><tr><th>cycle</th><th>starts at</th><th>freeze</th>"
               "<th>thaw</th><th>max ice radius</th><th>coverage at freeze end</th>"
               "<th>coldest at the target</th></tr>\n");
    for (int i = 0; i < sum.n_cycles; i++) {
        const cn_session_cycle *cy = &sum.cycles[i];
        char fz[64], th[64];
        fmt_s(fz, sizeof fz, cy->freeze_s);
        fmt_s(th, sizeof th, cy->thaw_s);
        char *run = cy->running_at_end == CN_PHASE_FREEZE ? fz
                    : cy->running_at_end == CN_PHASE_THAW ? th : NULL;
        if (run) /* the recording ended in it: a duration so far, not the step's */
            snprintf(run + strlen(run), sizeof fz - strlen(run), " so far (running at the end)");
        char at[48];
        fmt_t(at, sizeof at, cy->freeze_start_s);
        char cov[32] = "--", tmin[32] = "--";
        if (cy->coverage_end >= 0)
            snprintf(cov, sizeof cov, "%.0f %%", 100 * cy->coverage_end);
        if (isfinite(cy->target_temp_min_c))
            snprintf(tmin, sizeof tmin, "%.0f C", cy->target_temp_min_c);
        char ice[32] = "--";
        if (cy->max_ice_radius_mm >= 0 && cy->ice_frames > 0)
            snprintf(ice, sizeof ice, "%.1f mm", cy->max_ice_radius_mm);
        else if (cy->max_ice_radius_mm >= 0)
            snprintf(ice, sizeof ice, "none seen");
        fprintf(h, "<tr><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                   "<td>%s</td></tr>\n",
                cy->cycle, at, fz, th, ice, cov, tmin);
    }
    fprintf(h, "</table>\n");
    if (sum.n_note_texts > 0) {
        fprintf(h, "<h2>Notes and marks</h2><table>\n");
        for (int i = 0; i < sum.n_note_texts; i++) {
            char at[48];
            fmt_t(at, sizeof at, sum.note_texts[i].t_s);
            fprintf(h, "<tr><td>%s</td><td>", at);
            html_escape(h, sum.note_texts[i].text);
            fprintf(h, "</td></tr>\n");
        }
        fprintf(h, "</table>\n");
    }
    if (sum.n_alarm_periods > 0) {
        /* every alarm with all its periods counted, then the periods (the first 64) */
        fprintf(h, "<h2>Alarms</h2><table><tr><th>alarm</th><th>times on</th><th>first at</th>"
                   "<th>on in all</th></tr>\n");
        for (int k = 0; k < 32; k++) {
            if (!sum.alarm_count[k])
                continue;
            char words[160], first[48], tot[32];
            cn_guidance_alarm_text(1u << k, words, sizeof words);
            fmt_t(first, sizeof first, sum.alarm_first_s[k]);
            fmt_s(tot, sizeof tot, sum.alarm_total_s[k]);
            fprintf(h, "<tr><td>");
            html_escape(h, words);
            fprintf(h, "</td><td>%d</td><td>%s</td><td>%s</td></tr>\n", sum.alarm_count[k], first,
                    tot);
        }
        fprintf(h, "</table>\n");
        if (sum.alarm_periods_dropped > 0)
            fprintf(h, "<p>The first 64 periods, in the order they began (%d more not listed; "
                       "counted above):</p>\n", sum.alarm_periods_dropped);
        fprintf(h, "<table><tr><th>alarm</th><th>from</th><th>to</th>"
                   "<th>for</th></tr>\n");
        for (int i = 0; i < sum.n_alarm_periods; i++) {
            const cn_session_alarm_period *ap = &sum.alarm_periods[i];
            char words[160], from[48], to[48], dur[32];
            cn_guidance_alarm_text(ap->bit, words, sizeof words);
            fmt_t(from, sizeof from, ap->from_s);
            fmt_t(to, sizeof to, ap->to_s);
            fmt_s(dur, sizeof dur, ap->to_s - ap->from_s);
            fprintf(h, "<tr><td>");
            html_escape(h, words);
            fprintf(h, "</td><td>%s</td><td>%s%s</td><td>%s</td></tr>\n", from, to,
                    ap->to_end ? " (on at the end)" : "", dur);
        }
        fprintf(h, "</table>\n");
    }
    if (have_ice)
        fprintf(h, "<h2>Ice radius and predicted isotherms</h2><img src=\"ice.png\" alt=\"ice radius vs time\">\n");
    if (have_temp)
        fprintf(h, "<h2>Temperature at the nerve</h2><p>%s</p>"
                   "<img src=\"nerve_temp.png\" alt=\"nerve temperature vs time\">\n",
                ser.nerve_temp_model
                    ? "The thermal model's temperature at the nerve's warmest point, as the session "
                      "computed it (the HUD's \"whole target <=\" is its lowest): a block needs "
                      "-20 C there, the whole nerve inside the -20 C curve."
                    : "Estimated from the nerve centre's distance to the needle tip between the "
                      "isotherm radii (a recording made before the model's temperature was "
                      "recorded).");
    fprintf(h, "<h2>Events</h2><p>%d events, each once: %s (s), who, what.</p><pre>",
            sum.n_events, strcmp(sum.clock, "scene") == 0 ? "scene time" : "recorded time");
    if (events)
        sort_event_lines(events);
    html_escape(h, events && events[0] ? events : "(none recorded)\n");
    fprintf(h, "</pre>\n</body></html>\n");
    fclose(h);
    fprintf(stderr, "cryonav report: wrote %s/summary.json, %s/report.html%s\n", out, out,
            have_ice ? " and plots" : "");
    if (!analysed)
        fprintf(stderr, "cryonav report: %s holds no CryoNav analysis (no ice, nerve or alarm "
                "figures, no plots): 'cryonav replay %s --speed 0 --record NEW' analyses it\n",
                file, file);
    cn_session_series_free(&ser);
    free(events);
    return exit_code;
}
