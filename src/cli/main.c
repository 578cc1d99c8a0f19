/* camvault: one binary, several subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: camvault <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve            run the server (RTSP relay) on the data directory\n"
            "  demo             serve, plus a synthetic camera pushing a test pattern; prints URLs\n"
            "  camera add       add a camera (push, or --pull URL)\n"
            "  camera list      list cameras\n"
            "  camera remove    remove a camera (its id is never reused)\n"
            "\n"
            "Run 'camvault <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("camvault 0.1.0\n");
        return 0;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "demo") == 0)
        return cmd_demo(argc - 1, argv + 1);
    if (strcmp(cmd, "camera") == 0)
        return cmd_camera(argc - 1, argv + 1);
    fprintf(stderr, "camvault: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
