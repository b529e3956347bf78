/*
 * emu_model.h - the emulated UP20L's protocol state machine (no umockdev inside).
 *
 * The model sees what a real probe sees - control setups, bulk OUT bytes, and requests
 * for bulk IN data - and keeps an IN queue of packets (register replies, frame chunks)
 * with the time each becomes available. The umockdev layer (up20l_emu.c) turns
 * usbdevfs URBs into these calls. Faults live here because they are about what the
 * probe sends.
 */
#ifndef CN_EMU_MODEL_H
#define CN_EMU_MODEL_H

#include "up20l_emu.h"

#include <stdint.h>

typedef struct emu_model emu_model;

emu_model *emu_model_new(const cn_up20l_emu_opts *o, char *err, size_t err_len);
void emu_model_free(emu_model *m);
/* Power-on state (after a replug). */
void emu_model_reset(emu_model *m);
/* A control request: returns 0 or -EPIPE (stall). IN data goes to data (len max). */
int emu_model_control(emu_model *m, const uint8_t setup[8], uint8_t *data, int len, int *actual,
                      int64_t now_ns);
void emu_model_bulk_out(emu_model *m, const uint8_t *d, int len);
/* Head of the IN queue: true with its due time when a packet is queued. */
bool emu_model_in_peek(emu_model *m, int64_t *due_ns);
/* Takes up to max bytes of the head packet group into dst: returns the byte count, or
 * -EPIPE while halted. *short_end tells that the group ended with a short packet (which
 * ends a bulk transfer). Sets *unplug_now when an unplug fault fires (nothing given). */
int emu_model_in_take(emu_model *m, uint8_t *dst, int max, bool *short_end, bool *unplug_now,
                      int *replug_ms);
bool emu_model_halted(emu_model *m);
void emu_model_clear_halt(emu_model *m);
uint64_t emu_model_frames_served(emu_model *m);
int emu_model_errors(emu_model *m, char *out, size_t out_len);

#endif
