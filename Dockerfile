# imgseal in a container: a build stage and a thin runtime stage on the same Debian 12 base.
# All package logic lives in scripts/install-deps.sh (the script CI runs), and the runtime
# stage installs with scripts/install.sh (the binary, its man pages and completions).
#
#   scripts/container.sh build          # what CI runs: a local base, then podman build
#   docker build -t imgseal .           # from Docker Hub's debian:bookworm (BASE below)
#   docker run --rm -v "$PWD:/images" imgseal convert /images/vendor.qcow2 -o /images/sealed.qcow2 --vendor-dir /images/vendor-packages
#
# Build arguments, each set in one place:
#   BASE           the Debian 12 base image of both stages. scripts/container.sh makes
#                  debian:bookworm-local with debootstrap and `podman import` (no registry
#                  needed) and passes it here.
#   BASE_SNAPSHOT  the date of the Debian archive the base was debootstrapped from; recorded
#                  in the image (IMGSEAL_BASE_SNAPSHOT) and in every manifest it writes.
#   APT_SNAPSHOT   a snapshot.debian.org date both stages install from (empty: the live
#                  archive; install-deps.sh falls back to it, saying so, when the snapshot
#                  service cannot be reached).
#   PREBUILT       a path in the build context to an imgseal binary built on Debian 12 from
#                  this same source (scripts/container.sh --binary): the build stage then
#                  copies it instead of installing a toolchain and compiling.
ARG BASE=debian:bookworm
ARG BASE_SNAPSHOT=
ARG APT_SNAPSHOT=
ARG PREBUILT=

# --- build ---------------------------------------------------------------------------------
FROM ${BASE} AS build
ARG APT_SNAPSHOT
ARG PREBUILT
# install-deps.sh falls back to rustup (~/.cargo/bin) when Debian's rustc-web is not usable.
ENV PATH=/root/.cargo/bin:$PATH
WORKDIR /src
# The script alone first, so the toolchain layer is reused when only the source changes.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN [ -n "$PREBUILT" ] || IMGSEAL_APT_SNAPSHOT=${APT_SNAPSHOT} scripts/install-deps.sh --build
COPY . .
RUN if [ -n "$PREBUILT" ]; then install -D -m 0755 "$PREBUILT" /stage/imgseal; \
    else cargo build --release --locked && install -D -m 0755 target/release/imgseal /stage/imgseal; fi

# --- runtime -------------------------------------------------------------------------------
FROM ${BASE}
ARG APT_SNAPSHOT
ARG BASE_SNAPSHOT
# The packages first (a layer reused until install-deps.sh changes), then the binary.
COPY scripts/install-deps.sh /tmp/imgseal-install/install-deps.sh
RUN IMGSEAL_APT_SNAPSHOT=${APT_SNAPSHOT} /tmp/imgseal-install/install-deps.sh --runtime \
 && apt-get clean && rm -rf /tmp/imgseal-install /var/lib/apt/lists/*
COPY scripts/install.sh /tmp/imgseal-install/install.sh
COPY --from=build /stage/imgseal /tmp/imgseal-install/imgseal
# /etc/imgseal-image-content: what this image is, as a digest two builds from the same
# inputs share (an image ID differs with every build's timestamps, and docker never tells a
# container its image ID): every installed package with its version, the imgseal binary and
# the base's snapshot date. imgseal records it in every manifest (environment.container_content).
RUN IMGSEAL_BINARY=/tmp/imgseal-install/imgseal /tmp/imgseal-install/install.sh \
 && rm -rf /tmp/imgseal-install \
 && { dpkg-query -W -f '${Package} ${Version} ${Architecture}\n' | LC_ALL=C sort; \
      sha256sum /usr/local/bin/imgseal | cut -d' ' -f1; echo "base ${BASE_SNAPSHOT}"; } \
    | sha256sum | cut -d' ' -f1 > /etc/imgseal-image-content
# libguestfs runs qemu itself (no libvirt in the container); imgseal tries KVM, then TCG.
# IMGSEAL_CONTAINER tells imgseal it runs in this image (its manifest then names the image:
# podman's /run/.containerenv gives the image ID; with docker pass -e IMGSEAL_IMAGE_ID=...).
ENV LIBGUESTFS_BACKEND=direct \
    IMGSEAL_CONTAINER=imgseal \
    IMGSEAL_BASE_SNAPSHOT=${BASE_SNAPSHOT}
WORKDIR /images
ENTRYPOINT ["imgseal"]
CMD ["--help"]
