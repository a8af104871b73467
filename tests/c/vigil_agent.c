/* A host daemon in miniature, for host/tests/capi.rs: runs a Vigil agent from a config file,
 * prints each order it receives ("order <id> <kind> <target> gen=<n> addrs=<a,b>"), reports it
 * done ("reported"), and stops the agent when its standard input closes.
 *
 * Usage: vigil_agent client|server CONFIG.toml
 * Exit: 0 after a clean stop; 1 on a bad command line; 2 if the agent cannot start; 3 on an
 * API error. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vigil.h"

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "client") != 0 && strcmp(argv[1], "server") != 0)) {
        fprintf(stderr, "usage: %s client|server CONFIG.toml\n", argv[0]);
        return 1;
    }
    int role = strcmp(argv[1], "client") == 0 ? VIGIL_ROLE_CLIENT : VIGIL_ROLE_SERVER;
    char err[256];
    vigil_agent *agent = vigil_agent_start(role, argv[2], err, sizeof err);
    if (agent == NULL) {
        fprintf(stderr, "vigil_agent_start: %s\n", err);
        return 2;
    }
    printf("started\n");
    fflush(stdout);

    struct pollfd fds[2] = {
        {.fd = vigil_agent_fd(agent), .events = POLLIN},
        {.fd = STDIN_FILENO, .events = POLLIN},
    };
    int status = 0;
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            perror("poll");
            status = 3;
            break;
        }
        if (fds[0].revents & POLLIN) {
            vigil_order order;
            int got;
            while ((got = vigil_agent_next_order(agent, &order)) == 1) {
                const char *kind = order.kind == VIGIL_ORDER_BEGIN_RECOVERY ? "begin_recovery"
                                 : order.kind == VIGIL_ORDER_CLOSE_WINDOW  ? "close_window"
                                                                           : "unknown";
                printf("order %s %s %s gen=%u addrs=", order.id, kind, order.target,
                       order.target_generation);
                for (uint32_t i = 0; i < order.addr_count; i++) {
                    printf("%s%s", i ? "," : "", order.addrs[i]);
                }
                printf("\n");
                /* A real daemon reconnects here. */
                if (vigil_agent_report(agent, order.handle, VIGIL_OUTCOME_DONE) != 0 ||
                    vigil_agent_report(agent, order.handle, VIGIL_OUTCOME_DONE) != -1) {
                    fprintf(stderr, "vigil_agent_report: unexpected result\n");
                    status = 3;
                }
                printf("reported\n");
                fflush(stdout);
            }
            if (got < 0) {
                status = 3;
            }
        }
        if (fds[1].revents & (POLLIN | POLLHUP)) {
            char buf[64];
            if (read(STDIN_FILENO, buf, sizeof buf) <= 0) {
                break; /* EOF: stop */
            }
        }
    }
    vigil_agent_stop(agent);
    vigil_agent_stop(agent); /* a second stop is a no-op */
    return status;
}
