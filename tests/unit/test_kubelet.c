/* SPDX-License-Identifier: Apache-2.0
 * test_kubelet.c - pure parts of the pod worker: container ids and the pod
 * status it reports (phase, conditions, container states) for the states
 * a pod goes through. The worker itself runs in tests/e2e/test_agent_pods.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kubelet/kubelet-internal.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "pki/pki.h"

static void
test_container_id(void **state)
{
    char a[29], b[29], c[29], hex[65];
    const char *key = "uid-1/web/0";

    (void)state;
    kubelet_container_id("uid-1", "web", 0, a);
    kubelet_container_id("uid-1", "web", 1, b);
    kubelet_container_id("uid-1", "web", 0, c);
    pki_sha256_hex(key, strlen(key), hex);
    assert_int_equal(strlen(a), 28);
    assert_memory_equal(a, "k3c-", 4);
    assert_memory_equal(a + 4, hex, 24);
    assert_string_not_equal(a, b);
    assert_string_equal(a, c);
    assert_true(runtime_id_valid(a));
}

/* A pod with n_init init containers and n_app app containers named i0.., c0... */
struct fixture {
    struct kubelet k;
    struct kpod p;
};

static struct fixture *
fixture_new(const char *policy, size_t n_init, size_t n_app)
{
    struct fixture *f = k3c_xcalloc(1, sizeof(*f));
    json_t *init = json_array(), *app = json_array();

    f->k.node_ip = "192.0.2.1";
    f->p.k = &f->k;
    f->p.uid = "u1";
    f->p.ns = "default";
    f->p.name = "p";
    snprintf(f->p.start_time, sizeof(f->p.start_time), "2026-01-01T00:00:00Z");
    for (size_t i = 0; i < n_init; i++) {
        char name[8];

        snprintf(name, sizeof(name), "i%zu", i);
        json_array_append_new(init, json_pack("{s:s, s:s}", "name", name, "image", "img:1"));
    }
    for (size_t i = 0; i < n_app; i++) {
        char name[8];

        snprintf(name, sizeof(name), "c%zu", i);
        json_array_append_new(app, json_pack("{s:s, s:s}", "name", name, "image", "img:1"));
    }
    f->p.spec_pod = json_pack("{s:{s:s, s:o, s:o}}", "spec", "restartPolicy", policy,
                              "initContainers", init, "containers", app);
    f->p.n_init = n_init;
    f->p.n_ctrs = n_init + n_app;
    f->p.ctrs = k3c_xcalloc(f->p.n_ctrs, sizeof(struct kctr));
    for (size_t i = 0; i < f->p.n_ctrs; i++) {
        struct kctr *c = &f->p.ctrs[i];

        c->init = i < n_init;
        c->spec = json_array_get(c->init ? init : app, c->init ? i : i - n_init);
        c->name = k3c_xstrdup(json_string_value(json_object_get(c->spec, "name")));
        c->started = true;
    }
    return f;
}

static void
fixture_free(struct fixture *f)
{
    for (size_t i = 0; i < f->p.n_ctrs; i++) {
        free(f->p.ctrs[i].name);
        free(f->p.ctrs[i].waiting_reason);
        free(f->p.ctrs[i].waiting_message);
        json_decref(f->p.ctrs[i].last_state);
    }
    free(f->p.ctrs);
    json_decref(f->p.spec_pod);
    json_decref(f->p.cond_times);
    free(f);
}

static void
set_running(struct kctr *c, const char *id, bool ready)
{
    snprintf(c->id, sizeof(c->id), "%s", id);
    c->have_st = true;
    c->st.state = RUNTIME_STATE_RUNNING;
    c->st.started_ms = 1767225600000; /* 2026-01-01T00:00:00Z */
    c->ready = ready;
}

static void
set_exited(struct kctr *c, const char *id, int code, bool done)
{
    snprintf(c->id, sizeof(c->id), "%s", id);
    c->have_st = true;
    c->st.state = RUNTIME_STATE_STOPPED;
    c->st.exit_code = code;
    c->st.started_ms = 1767225600000;
    c->st.finished_ms = 1767225601000;
    c->done = done;
}

static const char *
path_str(json_t *st, const char *a, size_t i, const char *b, const char *c, const char *d)
{
    json_t *v = json_array_get(json_object_get(st, a), i);

    if (b)
        v = json_object_get(v, b);
    if (c)
        v = json_object_get(v, c);
    if (d)
        v = json_object_get(v, d);
    return json_string_value(v);
}

static const char *
cond(json_t *st, const char *type)
{
    json_t *c;
    size_t i;

    json_array_foreach(json_object_get(st, "conditions"), i,
                       c) if (strcmp(json_string_value(json_object_get(c, "type")), type) ==
                              0) return json_string_value(json_object_get(c, "status"));
    return NULL;
}

static void
test_status_pending(void **state)
{
    struct fixture *f = fixture_new("Always", 1, 1);
    _cleanup_json_ json_t *st = NULL;

    (void)state;
    st = kubelet_pod_status(&f->p);
    assert_string_equal(json_string_value(json_object_get(st, "phase")), "Pending");
    assert_string_equal(cond(st, "PodScheduled"), "True");
    assert_string_equal(cond(st, "Initialized"), "False");
    assert_string_equal(cond(st, "Ready"), "False");
    assert_string_equal(path_str(st, "initContainerStatuses", 0, "state", "waiting", "reason"),
                        "ContainerCreating");
    assert_string_equal(path_str(st, "containerStatuses", 0, "state", "waiting", "reason"),
                        "PodInitializing");
    assert_null(json_object_get(st, "podIP"));
    assert_string_equal(json_string_value(json_object_get(st, "hostIP")), "192.0.2.1");
    fixture_free(f);
}

static void
test_status_running(void **state)
{
    struct fixture *f = fixture_new("Always", 1, 2);
    _cleanup_json_ json_t *st = NULL, *st2 = NULL;
    json_t *cs;

    (void)state;
    snprintf(f->p.pod_ip, sizeof(f->p.pod_ip), "10.42.0.5");
    set_exited(&f->p.ctrs[0], "k3c-init", 0, true);
    set_running(&f->p.ctrs[1], "k3c-a", true);
    set_running(&f->p.ctrs[2], "k3c-b", false);
    st = kubelet_pod_status(&f->p);
    assert_string_equal(json_string_value(json_object_get(st, "phase")), "Running");
    assert_string_equal(cond(st, "Initialized"), "True");
    assert_string_equal(cond(st, "ContainersReady"), "False");
    assert_string_equal(json_string_value(json_object_get(st, "podIP")), "10.42.0.5");
    assert_string_equal(path_str(st, "initContainerStatuses", 0, "state", "terminated", "reason"),
                        "Completed");
    cs = json_array_get(json_object_get(st, "containerStatuses"), 0);
    assert_true(json_is_true(json_object_get(cs, "ready")));
    assert_string_equal(json_string_value(json_object_get(cs, "containerID")), "k3c://k3c-a");
    assert_string_equal(path_str(st, "containerStatuses", 0, "state", "running", "startedAt"),
                        "2026-01-01T00:00:00Z");
    assert_false(json_is_true(
        json_object_get(json_array_get(json_object_get(st, "containerStatuses"), 1), "ready")));
    /* Ready once the second one is; the status is stable between calls
     * unless something changed (the worker writes only changes). */
    f->p.ctrs[2].ready = true;
    st2 = kubelet_pod_status(&f->p);
    assert_string_equal(cond(st2, "Ready"), "True");
    json_decref(st);
    st = kubelet_pod_status(&f->p);
    assert_true(json_equal(st, st2));
    fixture_free(f);
}

static void
test_status_crash_loop(void **state)
{
    struct fixture *f = fixture_new("Always", 0, 1);
    struct kctr *c = &f->p.ctrs[0];
    _cleanup_json_ json_t *st = NULL;

    (void)state;
    set_exited(c, "k3c-x", 3, false);
    c->restart_count = 2;
    c->waiting_reason = k3c_xstrdup("CrashLoopBackOff");
    c->waiting_message = k3c_xstrdup("back-off 20s restarting failed container=c0");
    c->last_state = json_pack("{s:{s:i, s:s}}", "terminated", "exitCode", 3, "reason", "Error");
    st = kubelet_pod_status(&f->p);
    assert_string_equal(json_string_value(json_object_get(st, "phase")), "Running");
    assert_string_equal(path_str(st, "containerStatuses", 0, "state", "waiting", "reason"),
                        "CrashLoopBackOff");
    assert_string_equal(path_str(st, "containerStatuses", 0, "lastState", "terminated", "reason"),
                        "Error");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_array_get(json_object_get(st, "containerStatuses"), 0), "restartCount")),
        2);
    fixture_free(f);
}

static void
test_status_terminal(void **state)
{
    struct fixture *f = fixture_new("Never", 0, 2);
    _cleanup_json_ json_t *st = NULL;

    (void)state;
    set_exited(&f->p.ctrs[0], "k3c-a", 0, true);
    set_exited(&f->p.ctrs[1], "k3c-b", 0, true);
    st = kubelet_pod_status(&f->p);
    assert_string_equal(json_string_value(json_object_get(st, "phase")), "Succeeded");
    assert_string_equal(path_str(st, "containerStatuses", 1, "state", "terminated", "reason"),
                        "Completed");
    json_decref(st);
    f->p.ctrs[1].st.exit_code = 1;
    st = kubelet_pod_status(&f->p);
    assert_string_equal(json_string_value(json_object_get(st, "phase")), "Failed");
    assert_string_equal(path_str(st, "containerStatuses", 1, "state", "terminated", "reason"),
                        "Error");
    json_decref(st);
    /* OnFailure: a failed container will run again. */
    json_object_set_new(json_object_get(f->p.spec_pod, "spec"), "restartPolicy",
                        json_string("OnFailure"));
    f->p.ctrs[1].done = false;
    st = kubelet_pod_status(&f->p);
    assert_string_equal(json_string_value(json_object_get(st, "phase")), "Running");
    fixture_free(f);
}

static void
test_status_failed_init(void **state)
{
    struct fixture *f = fixture_new("Never", 1, 1);
    _cleanup_json_ json_t *st = NULL;

    (void)state;
    set_exited(&f->p.ctrs[0], "k3c-i", 1, true);
    f->p.failed_init = true;
    st = kubelet_pod_status(&f->p);
    assert_string_equal(json_string_value(json_object_get(st, "phase")), "Failed");
    assert_string_equal(path_str(st, "initContainerStatuses", 0, "state", "terminated", "reason"),
                        "Error");
    fixture_free(f);
}

static void
test_status_qos(void **state)
{
    struct fixture *f = fixture_new("Always", 0, 2);
    json_t *c0 = (json_t *)f->p.ctrs[0].spec, *c1 = (json_t *)f->p.ctrs[1].spec;
    json_t *st;

    (void)state;
    st = kubelet_pod_status(&f->p);
    assert_string_equal(json_string_value(json_object_get(st, "qosClass")), "BestEffort");
    json_decref(st);
    json_object_set_new(c0, "resources", json_pack("{s:{s:s}}", "requests", "memory", "64Mi"));
    st = kubelet_pod_status(&f->p);
    assert_string_equal(json_string_value(json_object_get(st, "qosClass")), "Burstable");
    json_decref(st);
    json_object_set_new(c0, "resources",
                        json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", "limits", "cpu", "500m", "memory",
                                  "64Mi", "requests", "cpu", "0.5", "memory", "64Mi"));
    json_object_set_new(c1, "resources",
                        json_pack("{s:{s:s, s:s}}", "limits", "cpu", "1", "memory", "1Gi"));
    st = kubelet_pod_status(&f->p);
    assert_string_equal(json_string_value(json_object_get(st, "qosClass")), "Guaranteed");
    json_decref(st);
    fixture_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_container_id),    cmocka_unit_test(test_status_pending),
        cmocka_unit_test(test_status_running),  cmocka_unit_test(test_status_crash_loop),
        cmocka_unit_test(test_status_terminal), cmocka_unit_test(test_status_failed_init),
        cmocka_unit_test(test_status_qos),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
