# imgseal in a container: a build stage and a runtime stage on the same pinned Debian 12 base.
# All package logic lives in scripts/install-deps.sh (the same script CI runs).
#
#   docker build -t imgseal .
#   docker run --rm -v "$PWD:/images:ro" imgseal inspect /images/disk.qcow2
#   docker run --rm --entrypoint man imgseal imgseal-convert
#
# The two pins, each in one place only:
#   BASE          the Debian 12 base image of both stages
#   APT_SNAPSHOT  the snapshot.debian.org date both stages install from (install-deps.sh
#                 warns and uses the live archive when the snapshot service is unreachable)
ARG BASE=debian:bookworm-20251117
ARG APT_SNAPSHOT=20251117T000000Z

# --- build ---------------------------------------------------------------------------------
FROM ${BASE} AS build
ARG APT_SNAPSHOT
# install-deps.sh falls back to rustup (~/.cargo/bin) when Debian's rustc-web is not usable.
ENV PATH=/root/.cargo/bin:$PATH
WORKDIR /src
# The script alone first, so the package layer is reused when only the source changes.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN IMGSEAL_APT_SNAPSHOT=${APT_SNAPSHOT} scripts/install-deps.sh --no-doctor
COPY . .
# The same installer as on a host, into a staging prefix the runtime stage copies whole:
# bin/imgseal, the man pages and the completions.
RUN PREFIX=/stage scripts/install.sh

# --- runtime -------------------------------------------------------------------------------
FROM ${BASE}
ARG APT_SNAPSHOT
COPY scripts/install-deps.sh /tmp/install-deps.sh
RUN IMGSEAL_APT_SNAPSHOT=${APT_SNAPSHOT} /tmp/install-deps.sh --runtime \
 && apt-get clean && rm -rf /tmp/install-deps.sh /var/lib/apt/lists/*
COPY --from=build /stage/ /usr/local/
# libguestfs runs qemu itself (no libvirt in the container); imgseal tries KVM, then TCG.
ENV LIBGUESTFS_BACKEND=direct
WORKDIR /images
ENTRYPOINT ["imgseal"]
CMD ["--help"]
