/* frame_pool.c - preallocated, reference-counted frames.
 *
 * All pixel buffers are allocated once in _new; acquire() pops a free index from a
 * lock-protected stack and unref() of the last reference pushes it back. The
 * reference count is a C11 atomic so a frame may be shared by the analysis thread,
 * the viewer and network sinks without locks; only the free stack takes a mutex
 * (a handful of instructions, never contended for long). The hot path therefore
 * never calls malloc. */
#include "core/core.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cn_frame_pool {
    pthread_mutex_t mu;
    int count, max_w, max_h;
    int n_free;
    int *free_stack;
    cn_frame *frames;
    uint8_t *pixels;
    atomic_int *refs;
};

cn_frame_pool *cn_frame_pool_new(int count, int max_w, int max_h)
{
    if (count <= 0 || max_w <= 0 || max_h <= 0 || (size_t)max_w * (size_t)max_h > (1u << 28))
        return NULL;
    cn_frame_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->count = count;
    p->max_w = max_w;
    p->max_h = max_h;
    p->frames = calloc((size_t)count, sizeof(cn_frame));
    p->free_stack = calloc((size_t)count, sizeof(int));
    p->refs = calloc((size_t)count, sizeof(atomic_int));
    p->pixels = calloc((size_t)count, (size_t)max_w * (size_t)max_h);
    if (!p->frames || !p->free_stack || !p->refs || !p->pixels) {
        free(p->frames);
        free(p->free_stack);
        free(p->refs);
        free(p->pixels);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    for (int i = 0; i < count; i++) {
        p->frames[i].pixels = p->pixels + (size_t)i * (size_t)max_w * (size_t)max_h;
        p->frames[i].pool_ = p;
        p->frames[i].index_ = i;
        atomic_init(&p->refs[i], 0);
        p->free_stack[i] = count - 1 - i;
    }
    p->n_free = count;
    return p;
}

int cn_frame_pool_free(cn_frame_pool *p)
{
    if (!p)
        return CN_OK;
    pthread_mutex_lock(&p->mu);
    int n_free = p->n_free;
    pthread_mutex_unlock(&p->mu);
    if (n_free != p->count)
        return CN_EAGAIN;
    pthread_mutex_destroy(&p->mu);
    free(p->frames);
    free(p->free_stack);
    free(p->refs);
    free(p->pixels);
    free(p);
    return CN_OK;
}

cn_frame *cn_frame_pool_acquire(cn_frame_pool *p)
{
    pthread_mutex_lock(&p->mu);
    if (p->n_free == 0) {
        pthread_mutex_unlock(&p->mu);
        return NULL;
    }
    int i = p->free_stack[--p->n_free];
    pthread_mutex_unlock(&p->mu);
    cn_frame *f = &p->frames[i];
    uint8_t *px = f->pixels;
    /* Clear metadata (results, truth, poses) but not the pixels: the source
     * overwrites those, and clearing 300 KB per frame would cost for nothing. */
    memset(f, 0, sizeof *f);
    f->pixels = px;
    f->pool_ = p;
    f->index_ = i;
    f->t_scene_ns = CN_SCENE_TIME_UNSET;
    f->source_frame = -1;
    atomic_store(&p->refs[i], 1);
    return f;
}

int cn_frame_pool_available(cn_frame_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->n_free;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int cn_frame_pool_capacity(const cn_frame_pool *p) { return p->count; }
int cn_frame_pool_max_width(const cn_frame_pool *p) { return p->max_w; }
int cn_frame_pool_max_height(const cn_frame_pool *p) { return p->max_h; }

void cn_frame_ref(cn_frame *f)
{
    atomic_fetch_add(&f->pool_->refs[f->index_], 1);
}

void cn_frame_unref(cn_frame *f)
{
    if (!f)
        return;
    cn_frame_pool *p = f->pool_;
    int before = atomic_fetch_sub(&p->refs[f->index_], 1);
    if (before == 1) {
        pthread_mutex_lock(&p->mu);
        p->free_stack[p->n_free++] = f->index_;
        pthread_mutex_unlock(&p->mu);
    } else if (before <= 0) {
        abort(); /* unref of a free frame: a use-after-free waiting to happen */
    }
}

int cn_frame_set_size(cn_frame *f, int width, int height)
{
    if (width <= 0 || height <= 0 || width > f->pool_->max_w || height > f->pool_->max_h)
        return CN_ERANGE;
    f->width = width;
    f->height = height;
    return CN_OK;
}

int cn_frame_set_pose(cn_frame *f, const char *name, const cn_mat4 *m, bool valid)
{
    if (!name || strlen(name) >= CN_XFORM_NAME_MAX)
        return CN_EINVAL;
    for (int i = 0; i < f->n_poses; i++) {
        if (strcmp(f->poses[i].name, name) == 0) {
            f->poses[i].m = *m;
            f->poses[i].valid = valid;
            return CN_OK;
        }
    }
    if (f->n_poses == CN_POSES_MAX)
        return CN_ENOMEM;
    cn_pose *p = &f->poses[f->n_poses++];
    cn_strlcpy(p->name, name, sizeof p->name);
    p->m = *m;
    p->valid = valid;
    return CN_OK;
}

const cn_pose *cn_frame_get_pose(const cn_frame *f, const char *name)
{
    for (int i = 0; i < f->n_poses; i++)
        if (strcmp(f->poses[i].name, name) == 0)
            return &f->poses[i];
    return NULL;
}

const cn_pose *cn_frame_usable_pose(const cn_frame *f, const char *name)
{
    const cn_pose *p = cn_frame_get_pose(f, name);
    return (p && p->valid && cn_mat4_is_finite(&p->m)) ? p : NULL;
}

int cn_frame_tracker_to(const cn_frame *f, const char *ref, cn_mat4 *out)
{
    char name[CN_XFORM_NAME_MAX];
    snprintf(name, sizeof name, "%sToTracker", ref);
    const cn_pose *r2t = strcmp(ref, "Tracker") == 0 ? NULL : cn_frame_usable_pose(f, name);
    if (r2t && cn_mat4_invert(&r2t->m, out) == CN_OK)
        return CN_OK;
    *out = cn_mat4_identity();
    return strcmp(ref, "Tracker") == 0 ? CN_OK : CN_ENOENT;
}

int cn_frame_image_to(const cn_frame *f, const char *ref, cn_mat4 *out, bool *ref_used)
{
    double sx = f->spacing_mm[0] > 0 && isfinite(f->spacing_mm[0]) ? f->spacing_mm[0] : 1.0;
    double sy = f->spacing_mm[1] > 0 && isfinite(f->spacing_mm[1]) ? f->spacing_mm[1] : 1.0;
    cn_mat4 by_spacing = cn_mat4_scale(sx, sy, 1.0);
    const cn_pose *i2p = cn_frame_usable_pose(f, "ImageToProbe");
    const cn_pose *p2t = cn_frame_usable_pose(f, "ProbeToTracker");
    cn_mat4 t2r;
    bool used = cn_frame_tracker_to(f, ref, &t2r) == CN_OK;
    if (ref_used)
        *ref_used = used && p2t;
    if (!p2t) {
        *out = by_spacing;
        return CN_ENOENT;
    }
    cn_mat4 i2t = cn_mat4_mul(&p2t->m, i2p ? &i2p->m : &by_spacing);
    *out = cn_mat4_mul(&t2r, &i2t);
    return CN_OK;
}

cn_mat4 cn_frame_image_to_image_mm(const cn_frame *f)
{
    double sx = f->spacing_mm[0] > 0 && isfinite(f->spacing_mm[0]) ? f->spacing_mm[0] : 1.0;
    double sy = f->spacing_mm[1] > 0 && isfinite(f->spacing_mm[1]) ? f->spacing_mm[1] : 1.0;
    cn_mat4 m = cn_mat4_scale(sx, sy, sx);
    m.m[3] = 0.5 * sx;
    m.m[7] = 0.5 * sy;
    return m;
}

int cn_frame_tool_to_image_mm(const cn_frame *f, const char *tool, cn_mat4 *out)
{
    *out = cn_mat4_identity();
    char name[CN_XFORM_NAME_MAX];
    snprintf(name, sizeof name, "%sToTracker", tool);
    const cn_pose *t2t = cn_frame_usable_pose(f, name);
    cn_mat4 i2t, t2i;
    if (!t2t || cn_frame_image_to(f, "Tracker", &i2t, NULL) != CN_OK)
        return CN_ENOENT;
    if (cn_mat4_invert(&i2t, &t2i) != CN_OK)
        return CN_EINVAL;
    cn_mat4 i2mm = cn_frame_image_to_image_mm(f);
    cn_mat4 tool2img = cn_mat4_mul(&t2i, &t2t->m);
    *out = cn_mat4_mul(&i2mm, &tool2img);
    return CN_OK;
}

int cn_frame_copy(cn_frame *dst, const cn_frame *src)
{
    if (src->width > dst->pool_->max_w || src->height > dst->pool_->max_h)
        return CN_ERANGE;
    uint8_t *px = dst->pixels;
    cn_frame_pool *pool = dst->pool_;
    int idx = dst->index_;
    *dst = *src;
    dst->pixels = px;
    dst->pool_ = pool;
    dst->index_ = idx;
    memcpy(dst->pixels, src->pixels, (size_t)src->width * (size_t)src->height);
    return CN_OK;
}
