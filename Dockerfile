# Production image: the veritrail binary on a slim Debian.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p veritrail-server

FROM debian:bookworm-slim
RUN useradd --system --create-home --home-dir /var/lib/veritrail veritrail
COPY --from=build /src/target/release/veritrail /usr/local/bin/veritrail
USER veritrail
WORKDIR /var/lib/veritrail
ENV VERITRAIL__SERVER__ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["veritrail"]
CMD ["serve", "--data-dir", "/var/lib/veritrail/data"]
