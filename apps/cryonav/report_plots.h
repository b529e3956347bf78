/* report_plots.h - plots and page style of `cryonav report` (report_plots.c). */
#ifndef CN_APP_REPORT_PLOTS_H
#define CN_APP_REPORT_PLOTS_H

#include "seqio/seqio.h"

#include <stdbool.h>
#include <stdio.h>

/* Writes DIR/ice.png (ice radius and predicted isotherms) and, when the recording
 * has a nerve temperature, DIR/nerve_temp.png. truth: the ice radius is the
 * simulator's truth. An X display must exist (cn_app_ensure_display). */
int cn_report_plots(const char *dir, const cn_session_series *ser, bool truth, bool *have_ice,
                    bool *have_temp, char *err, size_t err_len);
/* The <style> element of report.html, in the palette's colours. */
void cn_report_html_style(FILE *out);

#endif
