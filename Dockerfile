FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY kernel kernel
COPY hotline hotline
COPY triage triage
COPY dispatch dispatch
COPY migrations migrations
RUN pip install --no-cache-dir -e .
ENV HOTLINE_ENVIRONMENT=production
EXPOSE 8000
CMD ["hotline", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
