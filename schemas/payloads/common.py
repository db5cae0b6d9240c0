"""Small value objects shared by several domains: people and postal addresses.

A person's name and e-mail are personal data (sealed on Kafka); employee numbers and CRM user
ids stay in clear, as keys the systems match on. Addresses here are companies' (B2B).
"""

from pydantic import BaseModel, ConfigDict, Field

from bizbus.schemas.values import PERSONAL, Email, NonEmptyStr

__all__ = ["Address", "Employee", "SalesRep"]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Employee(_Value):
    """A person in the company directory (applicant, approver, trip traveller)."""

    employee_no: NonEmptyStr = Field(
        description="Employee number (工号), the key HR and OA share.", examples=["E10023"]
    )
    name: NonEmptyStr = Field(
        description="Full name as written in HR.", examples=["王磊"], json_schema_extra=PERSONAL
    )
    email: Email | None = Field(
        default=None, description="Work e-mail address, if known.", json_schema_extra=PERSONAL
    )
    department: str | None = Field(
        default=None, description="Department name, if known.", examples=["华东销售部"]
    )


class SalesRep(_Value):
    """The CRM user who owns a lead, account or order."""

    user_id: NonEmptyStr = Field(description="CRM user id (Salesforce User.Id).")
    name: NonEmptyStr = Field(
        description="Display name of the CRM user.", examples=["李娜"], json_schema_extra=PERSONAL
    )
    email: Email | None = Field(
        default=None, description="E-mail of the CRM user.", json_schema_extra=PERSONAL
    )
    employee_no: str | None = Field(
        default=None, description="Employee number (工号), when the CRM user maps to HR."
    )
    role: str | None = Field(
        default=None,
        description="Sales role (the CRM user's title, e.g. 销售代表): the discount it may give.",
    )


class Address(_Value):
    """A postal address; Chinese addresses fill province, city, district and street."""

    country: str = Field(
        pattern=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 country code.",
        examples=["CN"],
    )
    province: str | None = Field(default=None, description="Province or state (省).")
    city: str | None = Field(default=None, description="City (市).")
    district: str | None = Field(default=None, description="District or county (区/县).")
    street: str | None = Field(default=None, description="Street and number, building, room.")
    postal_code: str | None = Field(default=None, description="Postal code (邮编).")
